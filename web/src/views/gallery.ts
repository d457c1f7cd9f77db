// The gallery as a history: one card per series, newest first (its winner's thumbnail, else its
// first picture's; the prompt, the date, "k of n done", a state badge, a favourite mark), and the
// solo pictures (images where series_id is null). Search by prompt, filter (all, favourites,
// unfinished), and a page at a time (keyset on created_at: "Show older").
import type { Image } from "../api";
import { type Cleanup, type Ctx, errorMessage } from "../context";
import { announce, h, show, syncList, text } from "../dom";
import { onOtherTabs } from "../tabs";
import { thumbnailPath, withThumbnails } from "../pictures";
import { type Card, createCard, createSolo, toCards, updateCard, updateSolo } from "./gallery-cards";
import { type GalleryFilter, readGallery, setFavourite, type SoloPicture } from "./gallery-data";

const POLL_MS = 3000;
const PAGE = 24;

export function renderGallery(ctx: Ctx, main: HTMLElement): Cleanup {
  const seriesList = h("ul", { class: "grid gallery", "aria-label": "Series", "data-testid": "series-list" });
  const soloList = h("ul", { class: "grid gallery", "aria-label": "Solo pictures", "data-testid": "solo-list" });
  const empty = h("p", { class: "muted", "data-testid": "gallery-empty" }, "No series yet. ", h("a", { href: "#/new" }, "Start one"), ".");
  const nothingFound = h("p", { class: "muted", "data-testid": "gallery-nothing-found" }, "Nothing matches.");
  const soloSection = h("section", { "aria-labelledby": "solo-title" }, h("h2", { id: "solo-title" }, "Pictures"), soloList);
  const error = h("p", { class: "field-error", role: "alert", "data-testid": "gallery-error" });
  const search = h("input", { type: "search", id: "gallery-search", placeholder: "a word of the prompt", "data-testid": "gallery-search" });
  const filter = h(
    "select",
    { id: "gallery-filter", "data-testid": "gallery-filter" },
    h("option", { value: "all" }, "All series"),
    h("option", { value: "favourites" }, "Favourites"),
    h("option", { value: "unfinished" }, "Unfinished"),
  );
  const more = h("button", { type: "button", "data-testid": "gallery-more" }, "Show older");
  for (const el of [empty, nothingFound, soloSection, error, more]) show(el, false);
  main.replaceChildren(
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Gallery"),
      h("a", { class: "button primary", href: "#/new", "data-testid": "new-series-link" }, "New series"),
    ),
    h(
      "form",
      { class: "gallery-controls", role: "search", "aria-label": "Find series", onsubmit: (event: Event) => event.preventDefault() },
      h("span", { class: "field" }, h("label", { for: "gallery-search" }, "Search prompts"), search),
      h("span", { class: "field" }, h("label", { for: "gallery-filter" }, "Show"), filter),
    ),
    error,
    empty,
    nothingFound,
    h("section", { "aria-labelledby": "series-title" }, h("h2", { id: "series-title", class: "visually-hidden" }, "Series"), seriesList),
    more,
    soloSection,
  );

  let stopped = false;
  let timer: number | undefined;
  let shownCount = PAGE; // how many series the screen holds: re-reads keep them all
  let cards: Card[] = [];
  const urls = new Map<string, string>();
  // Cards show the thumbnail (the picture itself where it has none); the solo link opens the picture.
  const shown = (image: Image) => urls.get(thumbnailPath(image.path)) ?? urls.get(image.path);

  async function sign(images: Image[]): Promise<void> {
    try {
      for (const [path, url] of await ctx.pictures.viewUrls(withThumbnails(images))) urls.set(path, url);
    } catch (e) {
      console.warn("imagen: could not sign picture URLs", e);
    }
  }

  function query(before: string | null, limit: number) {
    return { search: search.value, filter: filter.value as GalleryFilter, before, limit };
  }

  /** Reads the newest `shownCount` series again (the first load, a search, a poll). */
  async function load(): Promise<void> {
    window.clearTimeout(timer);
    const asked = `${search.value}\n${filter.value}`;
    try {
      const page = await readGallery(ctx.db, query(null, shownCount));
      if (stopped || asked !== `${search.value}\n${filter.value}`) return; // a newer search is on its way
      cards = toCards(page);
      await sign([...cards.flatMap((c) => (c.cover ? [c.cover] : [])), ...page.solo]);
      if (stopped) return;
      draw(page.solo, page.more);
    } catch (e) {
      if (stopped) return;
      text(error, `Could not load the gallery: ${errorMessage(e)}`);
      show(error, true);
      schedule();
    }
  }

  async function loadOlder(): Promise<void> {
    const last = cards.at(-1);
    if (!last) return;
    more.disabled = true;
    try {
      const page = await readGallery(ctx.db, query(last.series.created_at, PAGE));
      const older = toCards(page);
      await sign(older.flatMap((c) => (c.cover ? [c.cover] : [])));
      if (stopped) return;
      cards = [...cards, ...older];
      shownCount = cards.length;
      draw(null, page.more);
      announce(`${older.length} older series shown`);
    } catch (e) {
      text(error, `Could not load older series: ${errorMessage(e)}`);
      show(error, true);
    } finally {
      more.disabled = false;
    }
  }

  function draw(solo: SoloPicture[] | null, hasMore: boolean): void {
    syncList(seriesList, cards, (c) => c.series.id, (card) => createCard(card, (li) => void toggleFavourite(li)), (li, card) => updateCard(li, card, shown));
    if (solo !== null) {
      syncList(soloList, solo, (image) => image.id, createSolo, (li, image) => updateSolo(li, image, urls, shown));
      show(soloSection, solo.length > 0);
    }
    const searching = search.value.trim() !== "" || filter.value !== "all";
    const nothing = cards.length === 0 && soloList.children.length === 0;
    show(empty, nothing && !searching);
    show(nothingFound, nothing && searching);
    show(more, hasMore);
    show(error, false);
    if (cards.some((c) => c.unfinished > 0)) schedule();
  }

  async function toggleFavourite(li: HTMLLIElement): Promise<void> {
    const card = cards.find((c) => c.series.id === li.dataset.seriesId);
    if (!card) return;
    const next = !card.series.favourite;
    try {
      await setFavourite(ctx.db, card.series.id, next);
      card.series = { ...card.series, favourite: next };
      updateCard(li, card, shown);
      announce(next ? "Marked as a favourite" : "No longer a favourite");
    } catch (e) {
      text(error, errorMessage(e));
      show(error, true);
    }
  }

  function schedule(): void {
    window.clearTimeout(timer);
    if (!stopped) timer = window.setTimeout(() => void load(), POLL_MS);
  }

  let typing: number | undefined;
  search.addEventListener("input", () => {
    window.clearTimeout(typing);
    typing = window.setTimeout(() => {
      shownCount = PAGE;
      void load();
    }, 250);
  });
  filter.addEventListener("change", () => {
    shownCount = PAGE;
    void load();
  });
  more.addEventListener("click", () => void loadOlder());
  const stopTabs = onOtherTabs(() => void load()); // a series picked or deleted in another tab

  void load();
  return () => {
    stopped = true;
    stopTabs();
    window.clearTimeout(timer);
    window.clearTimeout(typing);
  };
}
