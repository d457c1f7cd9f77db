// A series' finished tries full size, in a modal <dialog>: one at a time (arrow keys, swipe or
// the Previous/Next buttons move between them, Esc closes), or two side by side to compare. Each
// picture has its own labelled "Pick" button: looking never picks. The picture shown (left, when
// comparing) makes new series: "More like this" and "Upscale 2×" (or 3×, 4×: picture-forms.ts), and "Edit a
// region", which shows the mask painter in place of the pictures (edit-region.ts; Esc or "Back"
// returns to them).
import { attr, h, show, text } from "../dom";
import { editRegion } from "./edit-region";
import type { Mask } from "./mask-painter";
import { upscaleForm, varyForm } from "./picture-forms";

/** One finished try as the lightbox shows it. */
export interface Shot {
  idx: number;
  seed: number;
  /** Signed URLs of the full picture (to look at) and of its download. */
  url: string | null;
  downloadUrl: string | null;
  winner: boolean;
}

export interface Lightbox {
  open(idx: number): void;
  /** Opens try idx at what makes a new series from it: "More like this" or "Upscale" (the focus
   * on its first field), or "Edit a region" (its mask painter). */
  openTo(idx: number, what: PictureAction): void;
  /** Opens try idx beside the next finished try, to compare them. */
  compare(idx: number): void;
  isOpen(): boolean;
  /** A number key while open: shows try idx and picks it (the picture picked is the one shown),
   * or says why not. */
  pickKey(idx: number): void;
  /** Redraws from shots() if open (a pick, a newly finished try). */
  refresh(): void;
  /** Leaving the page: closes it and takes it out of the document. */
  destroy(): void;
}

const SWIPE_PX = 50;

/** What a picture makes: variations, an upscale, an edit of a region. */
export type PictureAction = "vary" | "upscale" | "edit";

/** One picture with its caption (seed, prompt) and its own Pick (where there is one) and Download. */
function figure(shot: Shot, noun: string, prompt: string, pickOf: ((idx: number) => Promise<void>) | null): HTMLElement {
  const pick = h(
    "button",
    {
      type: "button",
      class: shot.winner ? "primary" : "",
      "data-testid": `lightbox-pick-${shot.idx}`,
      "aria-pressed": shot.winner ? "true" : "false",
    },
    shot.winner ? `★ Try ${shot.idx} is the winner` : `☆ Pick try ${shot.idx}`,
  );
  attr(pick, "title", shot.winner ? "Press again to un-pick" : null);
  pick.addEventListener("click", () => void pickOf?.(shot.idx));
  show(pick, pickOf !== null);
  const download = h("a", { class: "button", href: shot.downloadUrl, "data-testid": `lightbox-download-${shot.idx}` }, `Download ${noun.toLowerCase()} ${shot.idx}`);
  show(download, shot.downloadUrl !== null);
  return h(
    "figure",
    { class: "lightbox-figure", "data-testid": `lightbox-figure-${shot.idx}`, "data-index": shot.idx },
    h("img", { class: "lightbox-picture", src: shot.url, alt: `${noun} ${shot.idx}${shot.winner ? " (winner)" : ""}: ${prompt}`, "data-testid": `lightbox-image-${shot.idx}` }),
    h("figcaption", {}, `${noun} ${shot.idx} · seed ${shot.seed} · `, h("span", { class: "lightbox-prompt" }, prompt)),
    h("div", { class: "actions" }, pick, download),
  );
}

export function lightbox(opts: {
  /** The prompt of picture idx (a series' pictures share theirs). */
  prompt: (idx: number) => string;
  shots: () => Shot[];
  /** Picks try idx as the winner, or null where there is nothing to pick (the gallery's solo pictures). */
  pick: ((idx: number) => Promise<void>) | null;
  /** What a picture is called ("Try", the default; "Picture"). */
  noun?: string;
  /** Picture idx's size in pixels (the mask is painted at it). */
  size: (idx: number) => { width: number; height: number };
  /** Each starts a new series from try idx's picture (and leaves the page) or throws what went wrong. */
  vary: (idx: number, n: number, strength: number) => Promise<void>;
  upscale: (idx: number, n: number, refine: number, factor: number) => Promise<void>;
  edit: (idx: number, mask: Mask, prompt: string, n: number) => Promise<void>;
}): Lightbox {
  const noun = opts.noun ?? "Try";
  // What the forms call picture idx: a series' "try 3"; a picture of no series has no try number.
  const nameOf = (idx: number) => (noun === "Try" ? `try ${idx}` : `this ${noun.toLowerCase()}`);
  const pickOf = opts.pick;
  let current = 0; // the idx shown (left, when comparing)
  let other: number | null = null; // the idx compared with, if any

  const title = h("h2", { id: "lightbox-title", class: "lightbox-title", "data-testid": "lightbox-title" });
  const closeButton = h("button", { type: "button", "data-testid": "lightbox-close", "aria-label": "Close", "aria-keyshortcuts": "Escape" }, "✕");
  const prev = h("button", { type: "button", "data-testid": "lightbox-prev", "aria-keyshortcuts": "ArrowLeft" }, "← Previous");
  const next = h("button", { type: "button", "data-testid": "lightbox-next", "aria-keyshortcuts": "ArrowRight" }, "Next →");
  const compare = h("select", { id: "compare-with", "data-testid": "compare-with" });
  const stage = h("div", { class: "lightbox-stage", "data-testid": "lightbox-stage" });
  const vary = varyForm(() => current, opts.vary, close);
  const upscale = upscaleForm(() => current, opts.size, opts.upscale, close);
  const editButton = h("button", { type: "button", "data-testid": "lightbox-edit" }, "Edit a region…");
  const editor = editRegion({ edit: (mask, prompt, n) => opts.edit(current, mask, prompt, n).then(close), back: () => editing(false) });
  const forms = h("div", { class: "lightbox-forms" }, vary.form, upscale.form, h("div", { class: "toolbar" }, editButton));
  const said = h("p", { class: "lightbox-said", role: "status", "data-testid": "lightbox-said" });
  const nav = h("div", { class: "lightbox-nav" }, h("span", { class: "inline" }, prev, next), h("span", { class: "inline" }, h("label", { for: "compare-with" }, "Compare with"), compare), said);
  // Its head, navigation and the pictures' own buttons always fit the viewport (style.css: the
  // dialog is a column as high as the viewport at most; the pictures take what is left, and the
  // forms that make new series scroll below them).
  const dialog = h(
    "dialog",
    { class: "lightbox", "aria-labelledby": "lightbox-title", "data-testid": "lightbox" },
    h("div", { class: "lightbox-head" }, title, closeButton),
    nav,
    stage,
    forms,
    editor.element,
  );
  show(editor.element, false);
  document.body.append(dialog);

  function draw(): void {
    const shots = opts.shots();
    if (shots.length === 0) return close();
    const at = (idx: number | null) => shots.find((shot) => shot.idx === idx);
    const shot = at(current) ?? shots[0]!;
    current = shot.idx;
    const compared = at(other);
    if (!compared || compared.idx === current) other = null;
    const position = shots.indexOf(shot) + 1;
    const of = noun === "Try" ? "finished" : "pictures";
    text(title, compared ? `${noun} ${shot.idx} and ${noun.toLowerCase()} ${compared.idx}` : `${noun} ${shot.idx} (${position} of ${shots.length} ${of})`);
    // Redrawn only when what it shows changed (a re-read of the same rows leaves it be); after a
    // pick, the button that had the focus keeps it.
    const shown = JSON.stringify([shot, compared, opts.prompt(shot.idx)]);
    if (stage.dataset.shown !== shown) {
      stage.dataset.shown = shown;
      const focused = stage.contains(document.activeElement) ? (document.activeElement as HTMLElement).dataset.testid : undefined;
      const figureOf = (one: Shot) => figure(one, noun, opts.prompt(one.idx), pickOf);
      stage.replaceChildren(figureOf(shot), ...(compared ? [figureOf(compared)] : []));
      if (focused) stage.querySelector<HTMLElement>(`[data-testid="${focused}"]`)?.focus();
    }
    attr(stage, "data-compare", compared ? "true" : null);
    vary.setPicture(current, nameOf(current));
    upscale.setPicture(current, nameOf(current));
    prev.disabled = shots.length < 2;
    next.disabled = shots.length < 2;
    compare.replaceChildren(
      h("option", { value: "" }, "nothing"),
      ...shots.filter((s) => s.idx !== current).map((s) => h("option", { value: String(s.idx), selected: s.idx === other }, `${noun} ${s.idx}`)),
    );
  }

  function step(by: number): void {
    const shots = opts.shots();
    if (shots.length < 2) return;
    const i = shots.findIndex((shot) => shot.idx === current);
    current = shots[(i + by + shots.length) % shots.length]!.idx;
    draw();
  }

  function close(): void {
    if (dialog.open) dialog.close();
  }

  /** Shows the mask painter over the picture shown in place of the pictures, or back. */
  function editing(on: boolean): void {
    for (const part of [stage, forms, nav]) show(part, !on);
    dialog.classList.toggle("is-editing", on);
    show(editor.element, on);
    if (!on) return editButton.focus();
    const shot = opts.shots().find((s) => s.idx === current);
    const { width, height } = opts.size(current);
    editor.open(nameOf(current), shot?.url ?? null, width, height, opts.prompt(current));
  }
  const isEditing = () => !editor.element.hidden;

  editButton.addEventListener("click", () => editing(true));
  dialog.addEventListener("cancel", (event) => {
    if (!isEditing()) return;
    event.preventDefault(); // Esc while painting: back to the picture, not out of the lightbox
    editing(false);
  });
  closeButton.addEventListener("click", close);
  prev.addEventListener("click", () => step(-1));
  next.addEventListener("click", () => step(1));
  compare.addEventListener("change", () => {
    other = compare.value === "" ? null : Number(compare.value);
    draw();
  });
  dialog.addEventListener("keydown", (event) => {
    if (isEditing() || event.target instanceof HTMLSelectElement || event.target instanceof HTMLInputElement) return; // arrows are theirs
    if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
      event.preventDefault();
      step(event.key === "ArrowLeft" ? -1 : 1);
    }
  });
  // Swipe on a phone: a mostly horizontal drag of SWIPE_PX or more moves to the next or previous try.
  let from: { x: number; y: number } | null = null;
  stage.addEventListener("pointerdown", (event) => (from = { x: event.clientX, y: event.clientY }));
  stage.addEventListener("pointerup", (event) => {
    if (!from) return;
    const dx = event.clientX - from.x;
    const dy = event.clientY - from.y;
    from = null;
    if (Math.abs(dx) >= SWIPE_PX && Math.abs(dx) > 2 * Math.abs(dy)) step(dx < 0 ? 1 : -1);
  });
  // A click on the backdrop (outside the dialog's box) closes it, as Esc does.
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) close();
  });

  return {
    open(idx: number): void {
      current = idx;
      other = null;
      text(said, "");
      if (isEditing()) editing(false);
      draw();
      if (!dialog.open) dialog.showModal();
      closeButton.focus();
    },
    openTo(idx: number, what: PictureAction): void {
      this.open(idx);
      if (what === "edit") editing(true);
      else (what === "vary" ? vary : upscale).focus();
    },
    compare(idx: number): void {
      this.open(idx);
      const shots = opts.shots();
      const i = shots.findIndex((shot) => shot.idx === idx);
      if (shots.length < 2 || i < 0) return;
      other = shots[(i + 1) % shots.length]!.idx;
      draw();
      compare.focus();
    },
    isOpen: () => dialog.open,
    pickKey(idx: number): void {
      if (isEditing() || pickOf === null) return;
      if (!opts.shots().some((shot) => shot.idx === idx)) {
        text(said, `Try ${idx} has no picture to pick`);
        return;
      }
      current = idx;
      other = null;
      draw();
      text(said, "");
      void pickOf(idx).then(() => text(said, opts.shots().find((shot) => shot.idx === idx)?.winner ? `Try ${idx} is the winner` : `Try ${idx} is no longer the winner`));
    },
    refresh(): void {
      if (dialog.open) draw();
    },
    destroy(): void {
      close();
      dialog.remove();
    },
  };
}
