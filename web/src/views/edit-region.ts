// "Edit a region" in the lightbox: paint over the picture where it should change (mask-painter.ts),
// say what should be there (the picture's prompt to start with), choose how many tries, and
// repaint. An empty mask is refused here, before anything is uploaded; anything else the
// database refuses (the mask's size, type, bytes; n; the prompt) shows under the form in words.
import { h, show, text } from "../dom";
import { maskProblem } from "../masks";
import { inFieldWords } from "../rules";
import { SETTINGS_RULES, TRY_KINDS } from "../settings_rules";
import { type Mask, maskPainter } from "./mask-painter";

export interface EditRegion {
  element: HTMLElement;
  /** Starts afresh over the picture called `name` ("try 3", "this picture"; its URL, size and
   * prompt), the focus on its heading. */
  open(name: string, url: string | null, width: number, height: number, prompt: string): void;
}

export function editRegion(opts: {
  /** Uploads the mask and starts the edit series (and leaves the page), or throws what went wrong. */
  edit: (mask: Mask, prompt: string, n: number) => Promise<void>;
  /** Back to the picture. */
  back: () => void;
}): EditRegion {
  const kind = TRY_KINDS.edit;
  const painter = maskPainter();
  const title = h("h3", { id: "edit-title", class: "vary-title", tabIndex: -1, "data-testid": "edit-title" });
  const prompt = h("textarea", { id: "edit-prompt", rows: 2, maxLength: SETTINGS_RULES.prompt.max_chars, "data-testid": "edit-prompt" });
  const n = h("input", { type: "number", id: "edit-n", min: 1, max: kind.max_tries, step: 1, value: String(kind.default_tries), inputMode: "numeric", "data-testid": "edit-n" });
  const start = h("button", { type: "submit", class: "primary", "data-testid": "edit-start" }, "Repaint the region");
  const back = h("button", { type: "button", "data-testid": "edit-back" }, "Back to the picture");
  const error = h("p", { class: "field-error", role: "alert", "data-testid": "edit-error" });
  show(error, false);
  const form = h(
    "form",
    { class: "vary edit-region", "aria-labelledby": "edit-title", noValidate: true, "data-testid": "edit-region" },
    title,
    painter.element,
    h("div", { class: "field" }, h("label", { for: "edit-prompt" }, "What should be there"), prompt),
    h("span", { class: "inline" }, h("label", { for: "edit-n" }, "Tries"), n, start, back),
    error,
  );

  const fail = (message: string) => {
    text(error, message);
    show(error, true);
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    show(error, false);
    start.disabled = true;
    try {
      const mask = await painter.toMask();
      const problem = maskProblem(mask);
      if (problem) return fail(problem);
      await opts.edit(mask, prompt.value, Number(n.value));
    } catch (e) {
      fail(inFieldWords(e instanceof Error ? e.message : String(e)));
    } finally {
      start.disabled = false;
    }
  });
  back.addEventListener("click", () => opts.back());

  return {
    element: form,
    open(name, url, width, height, words) {
      text(title, `Edit a region of ${name}: paint over what should change`);
      painter.reset(url, width, height, name);
      prompt.value = words;
      n.value = String(kind.default_tries);
      show(error, false);
      title.focus();
    },
  };
}
