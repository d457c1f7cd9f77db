// The keyboard shortcuts: "?" anywhere (outside a text field) lists them in a modal dialog (Esc
// closes it); on a series page the digit keys pick the winner.
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

/** The key that picks try `idx` on a series page (1–9, and 0 for 10), or null. */
export function pickKeyFor(idx: number): string | null {
  if (idx >= 1 && idx <= 9) return String(idx);
  return idx === 10 ? "0" : null;
}

/** Listens for the digit keys that pick a try (outside a text field); returns what stops it. */
export function onPickKeys(pick: (idx: number) => void): () => void {
  function onKey(event: KeyboardEvent): void {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
    if (!/^[0-9]$/.test(event.key)) return;
    event.preventDefault();
    pick(event.key === "0" ? 10 : Number(event.key));
  }
  document.addEventListener("keydown", onKey);
  return () => document.removeEventListener("keydown", onKey);
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
