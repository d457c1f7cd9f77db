// The gallery: one card per series (its winner, else its first picture; "k of n done") and the
// solo pictures (images where series_id is null).
import type { Image, Series } from "../api";
import { type Cleanup, type Ctx, errorMessage } from "../context";
import { attr, h, show, syncList, text } from "../dom";
import { thumbnailPath, withThumbnails } from "../pictures";

const POLL_MS = 3000;

interface Card {
  series: Series;
  done: number;
  unfinished: number;
  cover: Image | null;
}

export function renderGallery(ctx: Ctx, main: HTMLElement): Cleanup {
  const seriesList = h("ul", { class: "grid gallery", "aria-label": "Series", "data-testid": "series-list" });
  const soloList = h("ul", { class: "grid gallery", "aria-label": "Solo pictures", "data-testid": "solo-list" });
  const empty = h(
    "p",
    { class: "muted", "data-testid": "gallery-empty" },
    "No series yet. ",
    h("a", { href: "#/new" }, "Start one"),
    ".",
  );
  const soloSection = h("section", { "aria-labelledby": "solo-title" }, h("h2", { id: "solo-title" }, "Pictures"), soloList);
  const error = h("p", { class: "field-error", role: "alert", "data-testid": "gallery-error" });
  show(empty, false);
  show(soloSection, false);
  show(error, false);
  main.replaceChildren(
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Gallery"),
      h("a", { class: "button primary", href: "#/new", "data-testid": "new-series-link" }, "New series"),
    ),
    error,
    empty,
    h("section", { "aria-labelledby": "series-title" }, h("h2", { id: "series-title", class: "visually-hidden" }, "Series"), seriesList),
    soloSection,
  );

  let stopped = false;
  let timer: number | undefined;
  const urls = new Map<string, string>();
  // Cards show the thumbnail (the picture itself where it has none); the solo link opens the picture.
  const shown = (image: Image) => urls.get(thumbnailPath(image.path)) ?? urls.get(image.path);

  function createCard(card: Card): HTMLLIElement {
    const img = h("img", { alt: "", loading: "lazy" });
    return h(
      "li",
      {},
      h(
        "a",
        { class: "card series-card", href: `#/series/${card.series.id}`, "data-testid": "series-card", "data-series-id": card.series.id },
        h("span", { class: "thumb" }, img),
        h("span", { class: "prompt" }),
        h("span", { class: "meta" }, h("span", { class: "count", "data-testid": "series-card-count" }), h("span", { class: "badge winner-badge" }, "winner picked")),
      ),
    );
  }

  function updateCard(li: HTMLLIElement, card: Card): void {
    const link = li.querySelector("a")!;
    const img = li.querySelector("img")!;
    const url = card.cover ? shown(card.cover) : undefined;
    attr(img, "src", url ?? null);
    show(img, url !== undefined);
    text(li.querySelector(".prompt")!, card.series.prompt);
    const count = `${card.done} of ${card.series.count} done`;
    text(li.querySelector(".count")!, count);
    show(li.querySelector<HTMLElement>(".winner-badge")!, card.series.selected_image_id !== null);
    attr(link, "aria-label", `${card.series.prompt}: ${count}${card.series.selected_image_id ? ", winner picked" : ""}`);
    attr(link, "data-done", card.done);
    attr(link, "data-count", card.series.count);
  }

  function createSolo(image: Image): HTMLLIElement {
    return h(
      "li",
      {},
      h(
        "a",
        { class: "card solo-card", target: "_blank", rel: "noopener", "data-testid": "solo-card", "aria-label": `Open picture: ${image.prompt}` },
        h("span", { class: "thumb" }, h("img", { alt: image.prompt, loading: "lazy" })),
      ),
    );
  }

  function updateSolo(li: HTMLLIElement, image: Image): void {
    attr(li.querySelector("a")!, "href", urls.get(image.path) ?? null);
    attr(li.querySelector("img")!, "src", shown(image) ?? null);
  }

  async function load(): Promise<void> {
    try {
      const { series, jobs, images } = await ctx.api.readGallery();
      const imageById = new Map(images.map((image) => [image.id, image]));
      const cards: Card[] = series.map((s) => {
        const tries = jobs.filter((job) => job.series_id === s.id).sort((a, b) => (a.series_idx ?? 0) - (b.series_idx ?? 0));
        const firstDone = tries.find((job) => job.image_id !== null && imageById.has(job.image_id));
        const winner = s.selected_image_id ? imageById.get(s.selected_image_id) : undefined;
        return {
          series: s,
          done: tries.filter((job) => job.status === "done").length,
          unfinished: tries.filter((job) => job.status === "queued" || job.status === "running").length,
          cover: winner ?? (firstDone?.image_id ? imageById.get(firstDone.image_id)! : null),
        };
      });
      const solo = images.filter((image) => image.series_id === null);
      const wanted = [...cards.flatMap((c) => (c.cover ? [c.cover] : [])), ...solo];
      try {
        for (const [path, url] of await ctx.pictures.viewUrls(withThumbnails(wanted))) urls.set(path, url);
      } catch (e) {
        console.warn("imagen: could not sign picture URLs", e);
      }
      if (stopped) return;
      syncList(seriesList, cards, (c) => c.series.id, createCard, updateCard);
      syncList(soloList, solo, (image) => image.id, createSolo, updateSolo);
      show(empty, cards.length === 0 && solo.length === 0);
      show(soloSection, solo.length > 0);
      show(error, false);
      if (cards.some((c) => c.unfinished > 0)) schedule();
    } catch (e) {
      if (stopped) return;
      text(error, `Could not load the gallery: ${errorMessage(e)}`);
      show(error, true);
      schedule();
    }
  }

  function schedule(): void {
    if (!stopped) timer = window.setTimeout(() => void load(), POLL_MS);
  }

  void load();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
  };
}
