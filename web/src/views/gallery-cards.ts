// The gallery's cards: one per series (its cover, prompt, date, "k of n done", a state badge and a
// favourite mark; a series made from a picture its kind and a link to the series it came from, and
// a series whose pictures made others links to those), and one per solo picture.
import { type Image, isUnfinished, type Series } from "../api";
import { attr, clip, h, show, text } from "../dom";
import { hasSource, kindLabel, promptOf } from "../settings";
import type { Gallery, SoloPicture } from "./gallery-data";

/** A series linked from a card: where it is, and what the link says. */
interface Link {
  seriesId: string;
  words: string;
}

export interface Card {
  series: Series;
  done: number;
  unfinished: number;
  running: number;
  failed: number;
  cancelled: number;
  cover: Image | null;
  /** The series this one is made from (its try), if it still exists; the series made from this one. */
  parent: Link | null;
  children: Link[];
  /** The series this one reruns (the same request, new seeds), and its reruns. */
  rerunOf: Link | null;
  reruns: Link[];
}

/** The one word a card's badge says about its series. */
function stateOf(card: Card): { state: string; label: string } {
  // "Running" only while a try renders; a series whose tries all wait is "Queued".
  if (card.running > 0) return { state: "running", label: "Running" };
  if (card.unfinished > 0) return { state: "queued", label: "Queued" };
  if (card.series.selected_image_id) return { state: "winner", label: "Winner picked" };
  if (card.failed > 0 && card.done === 0) return { state: "failed", label: "Failed" };
  if (card.cancelled > 0 && card.done < card.series.count) return { state: "cancelled", label: "Cancelled" };
  if (card.failed > 0) return { state: "failed", label: "Some failed" };
  return { state: "done", label: "Done" };
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function createCard(card: Card, onFavourite: (li: HTMLLIElement) => void): HTMLLIElement {
  const favourite = h("button", { type: "button", class: "favourite", "data-testid": "favourite" });
  favourite.addEventListener("click", () => onFavourite(li));
  const li = h(
    "li",
    { class: "card series-card", "data-testid": "series-card", "data-series-id": card.series.id },
    h(
      "a",
      { class: "series-link", href: `#/series/${card.series.id}` },
      h("span", { class: "thumb" }, h("img", { alt: "", loading: "lazy" })),
      h("span", { class: "prompt", "data-testid": "series-card-prompt" }),
    ),
    h(
      "span",
      { class: "meta" },
      h("time", { "data-testid": "series-card-date" }),
      h("span", { class: "count", "data-testid": "series-card-count" }),
      h("span", { class: "badge state-badge", "data-testid": "series-card-state" }),
      h("span", { class: "badge kind-badge", "data-testid": "series-card-kind" }),
      favourite,
    ),
    h("p", { class: "lineage card-lineage", "data-testid": "series-card-lineage" }),
  );
  return li;
}

export function updateCard(li: HTMLLIElement, card: Card, shown: (image: Image) => string | undefined): void {
  const img = li.querySelector("img")!;
  const url = card.cover ? shown(card.cover) : undefined;
  attr(img, "src", url ?? null);
  show(img, url !== undefined);
  text(li.querySelector(".prompt")!, promptOf(card.series));
  attr(li.querySelector(".prompt")!, "title", promptOf(card.series));
  const time = li.querySelector("time")!;
  attr(time, "datetime", card.series.created_at);
  text(time, dateFormat.format(new Date(card.series.created_at)));
  text(li.querySelector(".count")!, `${card.done} of ${card.series.count} done`);
  const { state, label } = stateOf(card);
  const badge = li.querySelector<HTMLElement>(".state-badge")!;
  text(badge, label);
  attr(badge, "data-state", state);
  attr(li, "data-state", state);
  attr(li, "data-done", card.done);
  attr(li, "data-count", card.series.count);
  const favourite = li.querySelector<HTMLButtonElement>(".favourite")!;
  attr(favourite, "aria-pressed", card.series.favourite ? "true" : "false");
  attr(favourite, "aria-label", `Favourite: ${clip(promptOf(card.series), 60)}`);
  text(favourite, card.series.favourite ? "★" : "☆");
  const kind = li.querySelector<HTMLElement>(".kind-badge")!;
  text(kind, hasSource(card.series) ? kindLabel(card.series.kind) : "Rerun");
  show(kind, hasSource(card.series) || card.series.rerun_of !== null);
  updateLineage(li.querySelector<HTMLElement>(".card-lineage")!, card);
}

/** "Upscale of try 1 of its series · Made from it: Edited region of try 2": links both ways,
 * redrawn only when they change (a poll keeps the focus where it is). */
function updateLineage(line: HTMLElement, card: Card): void {
  const key = JSON.stringify([card.parent, card.children, card.rerunOf, card.reruns]);
  if (line.dataset.lineage === key) return;
  line.dataset.lineage = key;
  const link = (to: Link, testid: string) => h("a", { href: `#/series/${to.seriesId}`, "data-testid": testid }, to.words);
  const parts: (Node | string)[] = [];
  if (card.parent) parts.push(`${kindLabel(card.series.kind)} of `, link(card.parent, "series-card-parent"));
  const list = (words: string, links: Link[], testid: string) => {
    if (links.length === 0) return;
    parts.push(`${parts.length > 0 ? " · " : ""}${words}`);
    links.forEach((to, i) => parts.push(...(i > 0 ? [", "] : []), link(to, testid)));
  };
  if (card.rerunOf) list("Rerun of ", [card.rerunOf], "series-card-rerun-of");
  list("Made from it: ", card.children, "series-card-child");
  list("Rerun as: ", card.reruns, "series-card-rerun");
  line.replaceChildren(...parts);
  show(line, parts.length > 0);
}

/** A solo picture's card: its thumbnail and prompt open it in the app's lightbox (gallery-solo.ts). */
export function createSolo(image: SoloPicture, onOpen: (li: HTMLLIElement) => void): HTMLLIElement {
  const open = h(
    "button",
    { type: "button", class: "series-link solo-open", "data-testid": "solo-open", "aria-label": `Open the picture: ${clip(image.prompt, 80)}` },
    h("span", { class: "thumb" }, h("img", { alt: "", loading: "lazy" })),
    h("span", { class: "prompt" }, image.prompt),
  );
  const li = h(
    "li",
    { class: "card solo-card", "data-testid": "solo-card", "data-image-id": image.id },
    open,
    h("span", { class: "meta" }, h("time", { datetime: image.created_at }, dateFormat.format(new Date(image.created_at))), h("span", { class: "badge kind-badge" }, "Picture")),
  );
  open.addEventListener("click", () => onOpen(li));
  return li;
}

export function updateSolo(li: HTMLLIElement, image: Image, shown: (image: Image) => string | undefined): void {
  attr(li.querySelector("img")!, "src", shown(image) ?? null);
}

/** The link to the series a series is made from, if its try's series still exists. */
function parentOf(series: Series, parent: Gallery["parents"][number] | undefined): Link | null {
  if (!series.parent_image_id || !parent?.series_id) return null;
  return { seriesId: parent.series_id, words: `try ${parent.series_idx ?? "?"} of its series` };
}

export function toCards(page: Gallery): Card[] {
  const imageById = new Map(page.images.map((image) => [image.id, image]));
  const parentTry = new Map(page.parents.map((job) => [job.image_id, job]));
  const idxOfImage = (imageId: string | null) => page.jobs.find((job) => job.image_id === imageId)?.series_idx ?? "?";
  return page.series.map((s) => {
    const tries = page.jobs.filter((job) => job.series_id === s.id).sort((a, b) => (a.series_idx ?? 0) - (b.series_idx ?? 0));
    const count = (status: string) => tries.filter((job) => job.status === status).length;
    const firstDone = tries.find((job) => job.image_id !== null && imageById.has(job.image_id));
    const winner = s.selected_image_id ? imageById.get(s.selected_image_id) : undefined;
    return {
      series: s,
      done: count("done"),
      unfinished: tries.filter((job) => isUnfinished(job.status)).length,
      running: count("running"),
      failed: count("failed"),
      cancelled: count("cancelled"),
      cover: winner ?? (firstDone?.image_id ? imageById.get(firstDone.image_id)! : null),
      parent: parentOf(s, parentTry.get(s.parent_image_id)),
      rerunOf: s.rerun_of ? { seriesId: s.rerun_of, words: "the series it asks again" } : null,
      reruns: page.reruns.filter((r) => r.rerun_of === s.id).map((r) => ({ seriesId: r.id, words: `a rerun of ${dateFormat.format(new Date(r.created_at))}` })),
      children: page.children
        .filter((child) => imageById.get(child.parent_image_id ?? "")?.series_id === s.id)
        .map((child) => ({ seriesId: child.id, words: `${kindLabel(child.kind)} of try ${idxOfImage(child.parent_image_id)}` })),
    };
  });
}

