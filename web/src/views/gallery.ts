// The gallery as a history: one card per series, newest first (its winner's thumbnail, else its
// first picture's; the prompt, the date, "k of n done", a state badge, a favourite mark), and the
// solo pictures (images where series_id is null). Search by prompt, filter (all, favourites,
// unfinished), and a page at a time (keyset on created_at: "Show older").
import type { Gallery, GalleryFilter, Image, Series } from "../api";
import { type Cleanup, type Ctx, errorMessage } from "../context";
import { announce, attr, clip, h, show, syncList, text } from "../dom";
import { thumbnailPath, withThumbnails } from "../pictures";

const POLL_MS = 3000;
const PAGE = 24;

interface Card {
  series: Series;
  done: number;
  unfinished: number;
  failed: number;
  cancelled: number;
  cover: Image | null;
}

/** The one word a card's badge says about its series. */
function stateOf(card: Card): { state: string; label: string } {
  if (card.unfinished > 0) return { state: "running", label: "Running" };
  if (card.series.selected_image_id) return { state: "winner", label: "Winner picked" };
  if (card.failed > 0 && card.done === 0) return { state: "failed", label: "Failed" };
  if (card.cancelled > 0 && card.done < card.series.count) return { state: "cancelled", label: "Cancelled" };
  if (card.failed > 0) return { state: "failed", label: "Some failed" };
  return { state: "done", label: "Done" };
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

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

  function createCard(card: Card): HTMLLIElement {
    const favourite = h("button", { type: "button", class: "favourite", "data-testid": "favourite" });
    favourite.addEventListener("click", () => void toggleFavourite(li));
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
        favourite,
      ),
    );
    return li;
  }

  function updateCard(li: HTMLLIElement, card: Card): void {
    const img = li.querySelector("img")!;
    const url = card.cover ? shown(card.cover) : undefined;
    attr(img, "src", url ?? null);
    show(img, url !== undefined);
    text(li.querySelector(".prompt")!, card.series.prompt);
    attr(li.querySelector(".prompt")!, "title", card.series.prompt);
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
    attr(favourite, "aria-label", `Favourite: ${clip(card.series.prompt, 60)}`);
    text(favourite, card.series.favourite ? "★" : "☆");
  }

  function createSolo(image: Image): HTMLLIElement {
    return h(
      "li",
      { class: "card solo-card", "data-testid": "solo-card" },
      h(
        "a",
        { class: "series-link", target: "_blank", rel: "noopener" },
        h("span", { class: "thumb" }, h("img", { alt: "", loading: "lazy" })),
        h("span", { class: "prompt" }, image.prompt),
      ),
      h("span", { class: "meta" }, h("time", { datetime: image.created_at }, dateFormat.format(new Date(image.created_at)))),
    );
  }

  function updateSolo(li: HTMLLIElement, image: Image): void {
    attr(li.querySelector("a")!, "href", urls.get(image.path) ?? null);
    attr(li.querySelector("img")!, "src", shown(image) ?? null);
  }

  function toCards(page: Gallery): Card[] {
    const imageById = new Map(page.images.map((image) => [image.id, image]));
    return page.series.map((s) => {
      const tries = page.jobs.filter((job) => job.series_id === s.id).sort((a, b) => (a.series_idx ?? 0) - (b.series_idx ?? 0));
      const count = (status: string) => tries.filter((job) => job.status === status).length;
      const firstDone = tries.find((job) => job.image_id !== null && imageById.has(job.image_id));
      const winner = s.selected_image_id ? imageById.get(s.selected_image_id) : undefined;
      return {
        series: s,
        done: count("done"),
        unfinished: count("queued") + count("running"),
        failed: count("failed"),
        cancelled: count("cancelled"),
        cover: winner ?? (firstDone?.image_id ? imageById.get(firstDone.image_id)! : null),
      };
    });
  }

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
      const page = await ctx.api.readGallery(query(null, shownCount));
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
      const page = await ctx.api.readGallery(query(last.series.created_at, PAGE));
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

  function draw(solo: Image[] | null, hasMore: boolean): void {
    syncList(seriesList, cards, (c) => c.series.id, createCard, updateCard);
    if (solo !== null) {
      syncList(soloList, solo, (image) => image.id, createSolo, updateSolo);
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
      await ctx.api.setFavourite(card.series.id, next);
      card.series = { ...card.series, favourite: next };
      updateCard(li, card);
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

  void load();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
    window.clearTimeout(typing);
  };
}
