// The lightbox's forms that make a new series from the picture shown: "More like this"
// (variations at a strength) and "Upscale" (enlarged by a factor the picture's size allows, then
// re-drawn at a low refine strength). Each names the picture it acts on ("try 3" in a series,
// "this picture" for a solo one); the database judges, and its refusal shows under the form in the
// form's words. On success the page goes to the new series (the caller's action).
import { h, show, text } from "../dom";
import { inFieldWords, LIMITS, range, STRENGTHS, upscaleFactors } from "../rules";
import { SETTINGS_RULES, TRY_KINDS } from "../settings_rules";

export interface PictureForm {
  form: HTMLFormElement;
  /** Acts on picture idx now, called `name` ("try 3", "this picture"). */
  setPicture(idx: number, name: string): void;
  /** Puts the focus on its first field. */
  focus(): void;
}

/** A form of `fields` and a submit button that runs `run` (and then `done`), or shows its error;
 * the button is enabled while `ready` says so. */
function pictureForm(id: string, fields: HTMLElement[], run: () => Promise<void>, done: () => void, ready = () => true) {
  const heading = h("h3", { id: `${id}-title`, class: "vary-title", "data-testid": `${id}-title` });
  const start = h("button", { type: "submit", class: "primary", "data-testid": `${id}-start` });
  const error = h("p", { class: "field-error", role: "alert", "data-testid": `${id}-error` });
  show(error, false);
  const form = h("form", { class: "vary", "aria-labelledby": `${id}-title`, noValidate: true }, heading, h("span", { class: "inline" }, ...fields, start), error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    show(error, false);
    start.disabled = true;
    try {
      await run();
      done();
    } catch (e) {
      text(error, inFieldWords(e instanceof Error ? e.message : String(e)));
      show(error, true);
    } finally {
      start.disabled = !ready();
    }
  });
  return { form, heading, start, focus: () => form.querySelector<HTMLElement>("input, select")?.focus() };
}

const options = (values: number[], chosen: number, words: (value: number) => string) =>
  values.map((value) => h("option", { value: String(value), selected: value === chosen }, words(value)));

/** "More like this": n variations of try idx at a strength. */
export function varyForm(current: () => number, vary: (idx: number, n: number, strength: number) => Promise<void>, done: () => void): PictureForm {
  const n = h("input", { type: "number", id: "vary-n", min: LIMITS.nMin, max: LIMITS.nMax, step: 1, value: String(LIMITS.defaultN), inputMode: "numeric", "data-testid": "vary-n" });
  const strength = h("select", { id: "vary-strength", "data-testid": "vary-strength" });
  for (const { label, value } of STRENGTHS) strength.append(h("option", { value: String(value) }, `${label} (${value} %)`));
  const fields = [h("label", { for: "vary-n" }, "Tries"), n, h("label", { for: "vary-strength" }, "Strength"), strength];
  const { form, heading, start, focus } = pictureForm("vary", fields, () => vary(current(), Number(n.value), Number(strength.value)), done);
  text(start, "More like this");
  return { form, focus, setPicture: (_idx, name) => text(heading, `Variations of ${name}: new seeds`) };
}

/** "Upscale": try idx enlarged by a factor its size allows (the rules' factors whose result
 * stays within the size rules), n tries re-drawn at a refine strength. */
export function upscaleForm(
  current: () => number,
  size: (idx: number) => { width: number; height: number },
  upscale: (idx: number, n: number, refine: number, factor: number) => Promise<void>,
  done: () => void,
): PictureForm {
  const kind = TRY_KINDS.upscale;
  const rule = SETTINGS_RULES.refine;
  const factorRule = SETTINGS_RULES.factor;
  const n = h("select", { id: "upscale-n", "data-testid": "upscale-n" }, ...options(range(1, kind.max_tries, 1), kind.default_tries, String));
  const factor = h("select", { id: "upscale-factor", "data-testid": "upscale-factor" });
  const refine = h(
    "select",
    { id: "upscale-refine", "aria-describedby": "upscale-hint", "data-testid": "upscale-refine" },
    ...options(range(rule.min_value, rule.max_value, rule.step), Number(rule.default_value), (value) => `${value} ${rule.unit}`),
  );
  const hint = h("span", { id: "upscale-hint", class: "hint" }, "how much is re-drawn: low keeps the picture, high adds detail");
  const fields = [
    h("label", { for: "upscale-n" }, "Tries"),
    n,
    h("label", { for: "upscale-factor" }, factorRule.label),
    factor,
    h("label", { for: "upscale-refine" }, rule.label),
    refine,
    hint,
  ];
  const run = () => upscale(current(), Number(n.value), Number(refine.value), Number(factor.value));
  const { form, heading, start, focus } = pictureForm("upscale", fields, run, done, () => factor.value !== "");
  const largest = `${SETTINGS_RULES.width.max_value} × ${SETTINGS_RULES.height.max_value} ${SETTINGS_RULES.width.unit}`;
  let name = "";
  const words = () => {
    const chosen = factor.value;
    const tooLarge = `${name.charAt(0).toUpperCase()}${name.slice(1)} is too large to upscale: an upscale is at most ${largest}`;
    text(heading, chosen ? `Upscale ${name}: ${chosen} times as wide and high, details re-drawn` : tooLarge);
    text(start, chosen ? `Upscale ${chosen}${factorRule.unit}` : "Upscale");
    start.disabled = !chosen;
  };
  factor.addEventListener("change", words);
  return {
    form,
    focus,
    setPicture(shown, called) {
      name = called;
      // The factors this picture's size allows; the one chosen stays while it is one of them.
      const { width, height } = size(shown);
      const allowed = upscaleFactors(width, height);
      const was = Number(factor.value || factorRule.default_value);
      const chosen = allowed.includes(was) ? was : allowed.includes(Number(factorRule.default_value)) ? Number(factorRule.default_value) : allowed[0];
      const key = allowed.join(",");
      if (factor.dataset.allowed !== key) {
        factor.dataset.allowed = key;
        factor.replaceChildren(...options(allowed, chosen ?? NaN, (value) => `${value}${factorRule.unit}`));
      }
      factor.value = chosen === undefined ? "" : String(chosen);
      words();
    },
  };
}
