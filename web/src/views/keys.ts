// "?" anywhere (outside a text field) lists the keyboard shortcuts in a modal dialog; Esc closes it.
import { h } from "../dom";

const KEYS: [string, string][] = [
  ["Ctrl+Enter (⌘+Enter on a Mac)", "start the series (new series form)"],
  ["1–9, 0", "pick try 1–9, 0 for 10 (series page)"],
  ["Enter on a picture", "open it full size (series page)"],
  ["← →", "previous / next try (full-size view)"],
  ["Esc", "close the full-size view or this list"],
  ["?", "this list"],
];

/** Text typed into a field is the field's, not a shortcut. */
export function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target instanceof HTMLInputElement) return !["checkbox", "radio", "button", "submit", "reset"].includes(target.type);
  return target.isContentEditable || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement;
}

export function installKeysHelp(): void {
  const close = h("button", { type: "button", "data-testid": "keys-close" }, "Close");
  const dialog = h(
    "dialog",
    { class: "keys-help", "aria-labelledby": "keys-title", "data-testid": "keys-help" },
    h("h2", { id: "keys-title" }, "Keyboard shortcuts"),
    h("dl", {}, ...KEYS.flatMap(([key, what]) => [h("dt", {}, h("kbd", {}, key)), h("dd", {}, what)])),
    close,
  );
  close.addEventListener("click", () => dialog.close());
  document.body.append(dialog);
  document.addEventListener("keydown", (event) => {
    if (event.key !== "?" || event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
    if (document.querySelector("dialog[open]")) return; // one modal at a time
    event.preventDefault();
    dialog.showModal();
    close.focus();
  });
}
