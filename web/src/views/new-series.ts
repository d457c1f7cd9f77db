// New series: the prompt, the number of tries, and every setting the rules offer a form (their
// kind, label, unit, limits and order come from settings_rules.ts: a new setting appears here with
// no change to this file), with aspect-ratio presets for the size. The form checks the database's
// rules first (rules.ts); what the database still refuses with 22023 is shown next to the field
// its message names.
import { ApiError } from "../api";
import { type Ctx, errorMessage } from "../context";
import { attr, h, show, text } from "../dom";
import {
  type Field,
  fieldOfMessage,
  formSettings,
  inFieldWords,
  labelOf,
  LIMITS,
  type Problems,
  type SeriesInput,
  SIZE_PRESETS,
  uncheckedSeries,
  validateSeries,
} from "../rules";
import { seriesSettings } from "../settings";
import type { SettingsRule } from "../settings_rules";

type Control = HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement;

/** Tests and debugging: `localStorage.setItem("imagen:client-checks", "off")` sends the form as
 * typed, so the database's own messages can be seen. */
function clientChecksOn(): boolean {
  try {
    return localStorage.getItem("imagen:client-checks") !== "off";
  } catch {
    return true;
  }
}

/** The input a setting's kind calls for, holding its default. */
function settingControl(rule: SettingsRule): Control {
  const value = rule.default_value ?? "";
  if (rule.kind === "integer" || rule.kind === "decimal") {
    const integer = rule.kind === "integer";
    return h("input", {
      type: "number",
      min: rule.min_value,
      max: rule.max_value,
      step: rule.step ?? (integer ? 1 : "any"),
      value,
      inputMode: integer ? "numeric" : "decimal",
      autocomplete: "off",
    });
  }
  if (rule.kind === "choice") {
    const select = h("select", {});
    if (rule.default_value === null) select.append(h("option", { value: "" }, "default"));
    for (const choice of rule.choices ?? []) select.append(h("option", { value: choice, selected: choice === value }, choice));
    return select;
  }
  return h("input", { type: "text", autocomplete: "off", value });
}

/** What the field says under itself: its limits. */
function settingHint(rule: SettingsRule): string | undefined {
  if (rule.min_value !== null && rule.max_value !== null) {
    const unit = rule.unit ? ` ${rule.unit}` : "";
    return `${rule.min_value} to ${rule.max_value}${unit}${rule.multiple_of !== null ? `, a multiple of ${rule.multiple_of}` : ""}`;
  }
  return rule.max_chars !== null ? `at most ${rule.max_chars} characters` : undefined;
}

function settingLabel(field: string, rule: SettingsRule): string {
  return `${labelOf(field)}${rule.unit ? ` (${rule.unit})` : ""}${rule.default_value === null ? " (optional)" : ""}`;
}

/** The size presets, for a form that has width and height: picking one fills both in; typing a
 * size of no preset shows "custom". */
function sizePresets(width: Control, height: Control): HTMLSelectElement & { sync(): void } {
  const presets = h("select", { id: "size-preset" }, h("option", { value: "" }, "custom"));
  for (const preset of SIZE_PRESETS) {
    presets.append(h("option", { value: `${preset.width}x${preset.height}` }, `${preset.label} · ${preset.width}×${preset.height}`));
  }
  const sync = () => {
    const typed = `${width.value}x${height.value}`;
    presets.value = [...presets.options].some((option) => option.value === typed) ? typed : "";
  };
  presets.addEventListener("change", () => {
    if (presets.value === "") return;
    [width.value, height.value] = presets.value.split("x") as [string, string];
  });
  width.addEventListener("input", sync);
  height.addEventListener("input", sync);
  sync();
  return Object.assign(presets, { sync });
}

export function renderNewSeries(ctx: Ctx, main: HTMLElement): void {
  const errors: Record<Field, HTMLElement> = {};
  const hints: Record<Field, string | null> = {};
  const inputs: Record<Field, Control> = {};

  function field(name: Field, label: string, control: Control, hint?: string) {
    const id = `field-${name}`;
    control.id = id;
    control.name = name;
    control.setAttribute("data-testid", id);
    const hintEl = hint ? h("p", { id: `hint-${name}`, class: "hint" }, hint) : null;
    hints[name] = hint ? `hint-${name}` : null;
    const error = h("p", { id: `error-${name}`, class: "field-error", "data-testid": `error-${name}` });
    show(error, false);
    errors[name] = error;
    inputs[name] = control;
    describe(name, false);
    // A problem goes as soon as the value changes: the next submit judges it again.
    control.addEventListener("input", () => {
      if (error.hidden) return;
      show(error, false);
      describe(name, false);
    });
    return h("div", { class: `field field-${name}` }, h("label", { for: id }, label), control, hintEl, error);
  }

  function describe(name: Field, withError: boolean): void {
    const control = inputs[name]!;
    attr(control, "aria-describedby", [withError ? `error-${name}` : null, hints[name]].filter(Boolean).join(" ") || null);
    attr(control, "aria-invalid", withError ? "true" : null);
  }

  const prompt = h("textarea", { rows: 3, required: true, placeholder: "a heron at dawn, mist on the water" });
  const n = h("input", { type: "number", min: LIMITS.nMin, max: LIMITS.nMax, step: 1, value: String(LIMITS.defaultN), inputMode: "numeric" });
  const settings = formSettings().filter(([, rule]) => rule.kind !== "picture"); // a picture is chosen elsewhere (More like this)
  const settingFields = settings.map(([name, rule]) => field(name, settingLabel(name, rule), settingControl(rule), settingHint(rule)));
  const presets = inputs.width && inputs.height ? sizePresets(inputs.width, inputs.height) : null;

  const formError = h("p", { class: "field-error", role: "alert", "data-testid": "form-error" });
  show(formError, false);
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "create-series" }, "Start series");

  const form = h(
    "form",
    { class: "card series-form", "aria-labelledby": "new-title", noValidate: true },
    h("h1", { id: "new-title" }, "New series"),
    field("prompt", labelOf("prompt"), prompt),
    h(
      "div",
      { class: "row" },
      field("n", labelOf("n"), n, `${LIMITS.nMin} to ${LIMITS.nMax}`),
      presets &&
        h("div", { class: "field field-size" }, h("label", { for: "size-preset" }, "Size preset"), presets),
      ...settingFields,
    ),
    formError,
    h("div", { class: "actions" }, submit),
  );

  function showProblems(problems: Problems): void {
    for (const name of Object.keys(inputs)) {
      const message = problems[name];
      text(errors[name]!, message !== undefined ? inFieldWords(message) : "");
      show(errors[name]!, message !== undefined);
      describe(name, message !== undefined);
    }
  }

  function focusFirst(problems: Problems): void {
    const first = ["prompt", "n", ...settings.map(([name]) => name)].find((name) => problems[name] !== undefined);
    if (first) inputs[first]!.focus();
  }

  // Ctrl+Enter (Cmd+Enter on a Mac) starts the series from any field, the prompt's textarea included.
  form.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    show(formError, false);
    const input: SeriesInput = Object.fromEntries(Object.entries(inputs).map(([name, control]) => [name, control.value]));
    const { problems, args } = validateSeries(input);
    if (clientChecksOn() && !args) {
      showProblems(problems);
      focusFirst(problems);
      return;
    }
    showProblems({});
    submit.disabled = true;
    form.setAttribute("aria-busy", "true");
    try {
      const id = await ctx.api.createSeries(args ?? uncheckedSeries(input));
      location.hash = `#/series/${id}`;
    } catch (e) {
      const message = errorMessage(e);
      const named = e instanceof ApiError && e.code === "22023" ? fieldOfMessage(message) : null;
      if (named && inputs[named]) {
        showProblems({ [named]: message });
        inputs[named].focus();
      } else {
        text(formError, message);
        show(formError, true);
      }
    } finally {
      submit.disabled = false;
      form.removeAttribute("aria-busy");
    }
  });

  main.replaceChildren(form);
  prompt.focus();
  // "Use these settings" on a series: #/new?from=<series id> fills the form with its settings.
  const from = new URLSearchParams(location.hash.split("?")[1] ?? "").get("from");
  if (from) {
    void ctx.api.readSeriesRow(from).then((series) => {
      if (!series || !form.isConnected) return;
      const chosen = seriesSettings(series);
      prompt.value = chosen.prompt;
      n.value = String(series.count);
      for (const [name] of settings) {
        const value = chosen[name];
        if (value !== undefined) inputs[name]!.value = value === null ? "" : String(value);
      }
      presets?.sync();
      form.setAttribute("data-filled-from", series.id);
    });
  }
}
