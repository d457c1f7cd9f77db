// New series: prompt, number of tries, size preset, steps, optional seed and style.
// The form checks the database's rules first (rules.ts); what the database still refuses with
// 22023 is shown next to the field its message names.
import { ApiError } from "../api";
import { type Ctx, errorMessage } from "../context";
import { attr, h, show, text } from "../dom";
import { type Field, fieldOfMessage, inFieldWords, LIMITS, type Problems, SIZE_PRESETS, validateSeries } from "../rules";

/** Tests and debugging: `localStorage.setItem("imagen:client-checks", "off")` sends the form as
 * typed, so the database's own messages can be seen. */
function clientChecksOn(): boolean {
  try {
    return localStorage.getItem("imagen:client-checks") !== "off";
  } catch {
    return true;
  }
}

export function renderNewSeries(ctx: Ctx, main: HTMLElement): void {
  const errors = {} as Record<Field, HTMLElement>;
  const hints = {} as Record<Field, string | null>;
  const inputs = {} as Record<Field, HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement>;

  function field(name: Field, label: string, control: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement, hint?: string) {
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
    return h("div", { class: `field field-${name}` }, h("label", { for: id }, label), control, hintEl, error);
  }

  function describe(name: Field, withError: boolean): void {
    const control = inputs[name];
    attr(control, "aria-describedby", [withError ? `error-${name}` : null, hints[name]].filter(Boolean).join(" ") || null);
    attr(control, "aria-invalid", withError ? "true" : null);
  }

  const prompt = h("textarea", { rows: 3, required: true, placeholder: "a heron at dawn, mist on the water" });
  const n = h("input", { type: "number", min: LIMITS.nMin, max: LIMITS.nMax, step: 1, value: String(LIMITS.defaultN), inputMode: "numeric" });
  const size = h("select", {});
  for (const preset of SIZE_PRESETS) {
    size.append(h("option", { value: `${preset.width}x${preset.height}` }, `${preset.label} · ${preset.width}×${preset.height}`));
  }
  const steps = h("input", {
    type: "number",
    min: LIMITS.stepsMin,
    max: LIMITS.stepsMax,
    step: 1,
    value: String(LIMITS.defaultSteps),
    inputMode: "numeric",
  });
  const seed = h("input", { type: "text", inputMode: "numeric", autocomplete: "off", placeholder: "random" });
  const style = h("input", { type: "text", autocomplete: "off", placeholder: "none" });

  const formError = h("p", { class: "field-error", role: "alert", "data-testid": "form-error" });
  show(formError, false);
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "create-series" }, "Start series");

  const form = h(
    "form",
    { class: "card series-form", "aria-labelledby": "new-title", noValidate: true },
    h("h1", { id: "new-title" }, "New series"),
    field("prompt", "Prompt", prompt),
    h(
      "div",
      { class: "row" },
      field("n", "Tries", n, `${LIMITS.nMin} to ${LIMITS.nMax}`),
      field("size", "Size", size, "aspect ratio · width×height"),
      field("steps", "Steps", steps, `${LIMITS.stepsMin} to ${LIMITS.stepsMax}`),
    ),
    h(
      "div",
      { class: "row" },
      field("seed", "Seed (optional)", seed, `0 to ${LIMITS.seedMax}; try i gets seed + i − 1`),
      field("style", "Style (optional)", style, `at most ${LIMITS.styleMaxChars} characters`),
    ),
    formError,
    h("div", { class: "actions" }, submit),
  );

  function showProblems(problems: Problems): void {
    for (const name of Object.keys(inputs) as Field[]) {
      const message = problems[name];
      text(errors[name], message !== undefined ? inFieldWords(message) : "");
      show(errors[name], message !== undefined);
      describe(name, message !== undefined);
    }
  }

  function focusFirst(problems: Problems): void {
    const order: Field[] = ["prompt", "n", "size", "steps", "seed", "style"];
    const first = order.find((name) => problems[name] !== undefined);
    if (first) inputs[first].focus();
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
    const input = { prompt: prompt.value, n: n.value, size: size.value, steps: steps.value, seed: seed.value, style: style.value };
    const { problems, args } = validateSeries(input);
    const checks = clientChecksOn();
    if (checks && !args) {
      showProblems(problems);
      focusFirst(problems);
      return;
    }
    showProblems({});
    // Without client checks, send what was typed (numbers as numbers where they parse).
    const sent = args ?? {
      prompt: input.prompt,
      n: Number(input.n.trim() === "" ? NaN : input.n),
      width: Number(input.size.split("x")[0]),
      height: Number(input.size.split("x")[1]),
      steps: Number(input.steps.trim() === "" ? NaN : input.steps),
      ...(input.seed.trim() ? { seed: Number(input.seed) } : {}),
      ...(input.style.trim() ? { style: input.style.trim() } : {}),
    };
    submit.disabled = true;
    form.setAttribute("aria-busy", "true");
    try {
      const id = await ctx.api.createSeries(sent);
      location.hash = `#/series/${id}`;
    } catch (e) {
      const message = errorMessage(e);
      const named = e instanceof ApiError && e.code === "22023" ? fieldOfMessage(message) : null;
      if (named) {
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
      prompt.value = series.prompt;
      n.value = String(series.count);
      const sized = `${series.width}x${series.height}`;
      if (![...size.options].some((option) => option.value === sized)) size.append(h("option", { value: sized }, `${series.width}×${series.height}`));
      size.value = sized;
      steps.value = String(series.steps);
      seed.value = series.base_seed !== null ? String(series.base_seed) : "";
      style.value = series.style ?? "";
      form.setAttribute("data-filled-from", series.id);
    });
  }
}
