// The gallery as a history: one card per series and one per solo picture (images where series_id
// is null), newest first, side by side by date. A series' card: its winner's thumbnail, else its
// first picture's; the prompt, the date, "k of n done", a state badge, a favourite mark, its
// lineage. A solo picture opens in the app's lightbox (gallery-solo.ts). Search by prompt, filter
// (all, favourites, unfinished), and a page at a time (keyset on created_at: "Show older"). The
// search, the filter and how many pages are shown live in the URL (#/?q=…&show=…&n=…), and the
// scroll position in the history entry, so a reload or "back" returns to the same place; the nav's
// "Gallery" link returns to the search and filter (gallery-place.ts).
import type { Image } from "../api";
import { type Cleanup, type Ctx, errorMessage } from "../context";
import { announce, h, show, syncList, text } from "../dom";
import { keepGalleryPlace } from "../gallery-place";
import { thumbnailPath, withThumbnails } from "../pictures";
import { onOtherTabs } from "../tabs";
import { type Card, createCard, createSolo, toCards, updateCard, updateSolo } from "./gallery-cards";
import { type GalleryFilter, readGallery, setFavourite, type SoloPicture } from "./gallery-data";
import { soloViewer } from "./gallery-solo";

const POLL_MS = 3000;
const PAGE = 24;
const FILTERS: GalleryFilter[] = ["all", "favourites", "unfinished"];

type Item = { card: Card; solo?: undefined; at: string } | { solo: SoloPicture; card?: undefined; at: string };

/** The gallery's state as the URL holds it. */
function stateFromUrl(): { q: string; show: GalleryFilter; n: number } {
  const params = new URLSearchParams(location.hash.split("?")[1] ?? "");
  const show = params.get("show") as GalleryFilter;
  const n = Number(params.get("n"));
  return { q: params.get("q") ?? "", show: FILTERS.includes(show) ? show : "all", n: Number.isInteger(n) && n > PAGE ? n : PAGE };
}

function stateToUrl(q: string, show: string, n: number): void {
  const params = new URLSearchParams();
  if (q) params.set("q", q);
  if (show !== "all") params.set("show", show);
  keepGalleryPlace(params.toString()); // the nav's "Gallery" returns to this search and filter
  if (n > PAGE) params.set("n", String(n));
  const query = params.toString();
  history.replaceState(history.state, "", `${location.pathname}${location.search}#/${query ? `?${query}` : ""}`);
}

export function renderGallery(ctx: Ctx, main: HTMLElement): Cleanup {
  const list = h("ul", { class: "grid gallery", "aria-label": "Series and pictures", "data-testid": "series-list" });
  const empty = h("p", { class: "muted", "data-testid": "gallery-empty" }, "No series yet. ", h("a", { href: "#/new" }, "Start one"), ".");
  const nothingFound = h("p", { class: "muted", "data-testid": "gallery-nothing-found" }, "Nothing matches.");
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
  for (const el of [empty, nothingFound, error, more]) show(el, false);
  main.replaceChildren(
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Gallery"),
      h(
        "form",
        { class: "gallery-controls", role: "search", "aria-label": "Find series", onsubmit: (event: Event) => event.preventDefault() },
        h("span", { class: "field" }, h("label", { for: "gallery-search" }, "Search prompts"), search),
        h("span", { class: "field" }, h("label", { for: "gallery-filter" }, "Show"), filter),
      ),
      h("a", { class: "button primary", href: "#/new", "data-testid": "new-series-link" }, "New series"),
    ),
    error,
    empty,
    nothingFound,
    h("section", { "aria-labelledby": "series-title" }, h("h2", { id: "series-title", class: "visually-hidden" }, "Series and pictures"), list),
    more,
  );

  const initial = stateFromUrl();
  search.value = initial.q;
  filter.value = initial.show;
  let stopped = false;
  let timer: number | undefined;
  let shownCount = initial.n; // how many series the screen holds: re-reads keep them all
  let cards: Card[] = [];
  let solo: SoloPicture[] = [];
  let restoreScroll: number | null = typeof history.state?.scrollY === "number" ? history.state.scrollY : null;
  const urls = new Map<string, string>();
  const viewer = soloViewer(ctx);
  // Cards show the thumbnail (the picture itself where it has none); the lightbox the picture.
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

  function fail(words: string, e: unknown): void {
    text(error, `${words}: ${errorMessage(e)}`);
    show(error, true);
  }

  /** Reads the newest `shownCount` series again (the first load, a search, a poll). */
  async function load(): Promise<void> {
    window.clearTimeout(timer);
    const asked = `${search.value}\n${filter.value}`;
    stateToUrl(search.value.trim(), filter.value, shownCount);
    try {
      const page = await readGallery(ctx.db, query(null, shownCount));
      if (stopped || asked !== `${search.value}\n${filter.value}`) return; // a newer search is on its way
      cards = toCards(page);
      solo = page.solo;
      await sign([...cards.flatMap((c) => (c.cover ? [c.cover] : [])), ...page.solo]);
      if (stopped) return;
      draw(page.more);
    } catch (e) {
      if (stopped) return;
      fail("Could not load the gallery", e);
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
      shownCount = Math.max(PAGE, cards.length);
      stateToUrl(search.value.trim(), filter.value, shownCount);
      draw(page.more);
      announce(`${older.length} older series shown`);
    } catch (e) {
      fail("Could not load older series", e);
    } finally {
      more.disabled = false;
    }
  }

  function draw(hasMore: boolean): void {
    // Solo pictures by date among the series: those older than the last series shown wait for
    // its older pages.
    const oldest = hasMore ? (cards.at(-1)?.series.created_at ?? "") : "";
    const items: Item[] = [
      ...cards.map((card) => ({ card, at: card.series.created_at })),
      ...solo.filter((picture) => picture.created_at >= oldest).map((picture) => ({ solo: picture, at: picture.created_at })),
    ].sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
    syncList(
      list,
      items,
      (item) => (item.card ? `s:${item.card.series.id}` : `p:${item.solo!.id}`),
      (item) => (item.card ? createCard(item.card, (li) => void toggleFavourite(li)) : createSolo(item.solo!, (li) => viewer.open(li.dataset.imageId!))),
      (li, item) => (item.card ? updateCard(li, item.card, shown) : updateSolo(li, item.solo!, shown)),
    );
    viewer.set(
      items.flatMap((item) => (item.solo ? [item.solo] : [])),
      (picture) => urls.get(picture.path) ?? null,
    );
    const searching = search.value.trim() !== "" || filter.value !== "all";
    show(empty, items.length === 0 && !searching);
    show(nothingFound, items.length === 0 && searching);
    show(more, hasMore);
    show(error, false);
    if (restoreScroll !== null) {
      window.scrollTo(0, restoreScroll);
      restoreScroll = null;
    }
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
      fail("Could not mark it", e);
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
  // Where the page is scrolled to, kept in this history entry (back returns there).
  let saving: number | undefined;
  const onScroll = () => {
    window.clearTimeout(saving);
    saving = window.setTimeout(() => history.replaceState({ ...history.state, scrollY: window.scrollY }, ""), 100);
  };
  window.addEventListener("scroll", onScroll, { passive: true });

  void load();
  return () => {
    stopped = true;
    stopTabs();
    window.removeEventListener("scroll", onScroll);
    window.clearTimeout(timer);
    window.clearTimeout(typing);
    window.clearTimeout(saving);
    viewer.destroy();
  };
}
