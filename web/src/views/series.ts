// One series: its prompt and settings, its lineage, a tile per try (series-tiles.ts), the winner
// picked with a try's Pick button or by the keys 1–9 and 0 (= 10; keys.ts), and the series'
// actions (series-actions.ts). Clicking a picture opens it full size in the lightbox
// (lightbox.ts), where tries are compared and picked too.
//
// The page shows what the tables say: it reads the rows (series-data.ts) on every (re)subscribe
// of its live updates (series-live.ts), on their hints, and every 3 s while a try is unfinished,
// so a missed event never leaves a tile stale.
import type { RealtimePostgresChangesPayload } from "@supabase/supabase-js";
import { isUnfinished, type Job } from "../api";
import { type Cleanup, type Ctx, errorMessage, isUnreachable, UNREACHABLE } from "../context";
import { attr, clip, h, show, syncList, text } from "../dom";
import { hasSource, kindLabel, seriesSettings, settingsLine, sourceImageOf } from "../settings";
import { onOtherTabs } from "../tabs";
import { onPickKeys } from "./keys";
import { lightbox, type PictureAction, type Shot } from "./lightbox";
import { seriesActions } from "./series-actions";
import { readSeries, type SeriesView, signPictures } from "./series-data";
import { forgetFinished, type LiveSteps, liveUpdates, mergeTryChange, recordProgress } from "./series-live";
import { createTile, shotsOf, tilesOf, updateTile } from "./series-tiles";

const POLL_MS = 3000;

/** Lineage both ways: the kind of series this is and the try it is made from (a variation, an
 * upscale or an edit of it), and the series made from this one's pictures. */
function drawLineage({ series, parent, children, jobs, images }: SeriesView, kind: HTMLElement, parentLink: HTMLElement, childLinks: HTMLElement): void {
  const settings = seriesSettings(series);
  const label = kindLabel(series.kind);
  text(kind, label);
  show(kind.parentElement!, hasSource(series));
  if (parent?.seriesId) {
    parentLink.replaceChildren(`${label} of try ${parent.idx ?? "?"} of `, h("a", { href: `#/series/${parent.seriesId}` }, "the series it came from"));
  } else {
    parentLink.replaceChildren(settings.source_image_id !== null ? `${label} of one of your pictures` : `${label} of a picture since deleted`);
  }
  show(parentLink, hasSource(series));
  const idxOfImage = (imageId: string | null) => jobs.find((job) => job.image_id === imageId)?.series_idx;
  childLinks.replaceChildren(
    "Made from its pictures: ",
    ...children.flatMap((child, i) => [
      i > 0 ? ", " : "",
      h("a", { href: `#/series/${child.id}` }, `${kindLabel(child.kind)} of try ${idxOfImage(sourceImageOf(child)) ?? "?"} (${child.count} ${child.count === 1 ? "try" : "tries"})`),
    ]),
  );
  show(childLinks, children.length > 0 && images.length > 0);
}

/** Reruns both ways: the series this one asks again (new seeds), and its own reruns. */
function drawReruns({ series, reruns }: SeriesView, line: HTMLElement): void {
  const key = JSON.stringify([series.rerun_of, reruns]);
  if (line.dataset.reruns === key) return;
  line.dataset.reruns = key;
  const parts: (Node | string)[] = [];
  if (series.rerun_of) parts.push("Rerun of ", h("a", { href: `#/series/${series.rerun_of}` }, "the series it asks again"));
  if (reruns.length > 0) {
    parts.push(parts.length > 0 ? " · Its reruns: " : "Its reruns: ");
    reruns.forEach((rerun, i) => parts.push(...(i > 0 ? [", "] : []), h("a", { href: `#/series/${rerun.id}` }, `rerun ${i + 1}`)));
  }
  line.replaceChildren(...parts);
  show(line, parts.length > 0);
}

export function renderSeries(ctx: Ctx, main: HTMLElement, seriesId: string): Cleanup {
  let view: SeriesView | null = null;
  let stopped = false;
  let gone = false; // no such series (or not the user's): stop reading
  const live: LiveSteps = new Map();
  const urls = new Map<string, string>();
  const downloads = new Map<string, string>();
  let shots: Shot[] = [];

  const title = h("h1", { class: "series-prompt", "data-testid": "series-prompt" });
  const settings = h("p", { class: "muted", "data-testid": "series-settings" });
  const kind = h("span", { class: "badge kind-badge", "data-testid": "series-kind" });
  const parentLink = h("p", { class: "lineage", "data-testid": "series-parent" });
  const childLinks = h("p", { class: "lineage", "data-testid": "series-children" });
  const rerunLinks = h("p", { class: "lineage", "data-testid": "series-reruns" });
  const summary = h("p", { class: "summary", "data-testid": "series-summary", "aria-live": "polite" });
  const tileList = h("ol", { class: "grid tiles", "aria-label": "Tries", "data-testid": "tiles" });
  const missing = h("p", { class: "muted", "data-testid": "series-missing" }, "There is no such series (or it is not yours). ", h("a", { href: "#/" }, "Back to the gallery"));
  show(missing, false);
  const showPage = () => {
    if (!page.isConnected) main.replaceChildren(page);
  };
  const actions = seriesActions(ctx, seriesId, { view: () => view, refresh, draw, showPage });
  const updates = liveUpdates(ctx, seriesId, { tryChanged, seriesChanged: () => void refresh(), progress, joined: () => void refresh() });
  const viewer = lightbox({
    prompt: () => (view ? seriesSettings(view.series).prompt : ""),
    size: () => (view ? seriesSettings(view.series) : { width: NaN, height: NaN }),
    shots: () => shots,
    pick: actions.pick,
    vary: actions.vary,
    upscale: actions.upscale,
    edit: actions.edit,
  });
  // A compact head (back, kind, prompt, state, live status, the series' menu; the settings and
  // lineage on a line below), then the pictures: the grid starts near the top on any screen.
  const page = h(
    "div",
    { class: "series-page" },
    h(
      "header",
      { class: "series-head" },
      h(
        "div",
        { class: "series-bar" },
        h("a", { class: "back", href: "#/", "aria-label": "Back to the gallery" }, "←"),
        h("span", { class: "lineage" }, kind),
        title,
        summary,
        updates.status,
        ...actions.parts.slice(0, 1),
      ),
      h("div", { class: "series-sub" }, settings, parentLink, childLinks, rerunLinks),
      ...actions.parts.slice(1),
    ),
    h("p", { class: "visually-hidden", id: "pick-hint" }, "Pick the winner with its Pick button or its number key (1–9, 0 for 10); pressing the winner's button again un-picks it."),
    tileList,
  );
  main.replaceChildren(h("p", { class: "muted", "data-testid": "series-loading" }, "Loading…"));
  const tileActions = {
    ...actions,
    open: (idx: number) => viewer.open(idx),
    openTo: (idx: number, what: PictureAction) => viewer.openTo(idx, what),
    compare: (idx: number) => viewer.compare(idx),
  };

  function draw(): void {
    if (stopped || !view) return;
    showPage();
    const { series, jobs } = view;
    const chosen = seriesSettings(series);
    text(title, chosen.prompt);
    attr(title, "title", chosen.prompt); // the heading shows three lines at most (style.css)
    document.title = `${clip(chosen.prompt, 60)} · Imagen`;
    text(settings, settingsLine(chosen));
    drawLineage(view, kind, parentLink, childLinks);
    drawReruns(view, rerunLinks);
    const done = jobs.filter((job) => job.status === "done").length;
    text(summary, `${done} of ${series.count} done${series.selected_image_id ? " · winner picked" : ""}`);
    attr(summary, "data-done", done);
    attr(summary, "data-count", series.count);
    actions.update(view);
    const tiles = tilesOf(view, chosen, live, urls, downloads);
    syncList(tileList, tiles, (tile) => String(tile.job.series_idx), (tile) => createTile(tile, seriesId, tileActions), updateTile);
    shots = shotsOf(tiles);
    viewer.refresh();
  }

  // --- reading: one read at a time; asked again meanwhile, it reads once more after -------------
  let inFlight: Promise<void> | null = null;
  let again = false;

  function refresh(): Promise<void> {
    if (inFlight) {
      again = true;
      return inFlight;
    }
    inFlight = (async () => {
      do {
        again = false;
        await load();
      } while (again && !stopped);
    })().finally(() => (inFlight = null));
    return inFlight;
  }

  async function load(): Promise<void> {
    const started = performance.now();
    try {
      const next = await readSeries(ctx.db, seriesId);
      if (stopped) return;
      updates.setReadFailed(false);
      actions.showError(null, "read");
      if (!next) {
        view = null;
        gone = true;
        updates.leave(); // nothing to watch: no re-joining either
        main.replaceChildren(missing);
        show(missing, true);
        return;
      }
      view = next;
      forgetFinished(live, next.jobs, started);
      try {
        await signPictures(ctx.pictures, next, seriesId, urls, downloads);
      } catch (e) {
        console.warn("imagen: could not sign picture URLs", e);
      }
      draw();
    } catch (e) {
      if (stopped) return;
      updates.setReadFailed(true);
      console.warn("imagen: could not read the series", e);
      const why = isUnreachable(e) ? UNREACHABLE : `Could not read the series: ${errorMessage(e)}. The page tries again every 3 s.`;
      actions.showError(`${why} What you see may be out of date.`, "read");
    }
  }

  // --- live hints --------------------------------------------------------------------------------
  function tryChanged(payload: RealtimePostgresChangesPayload<Partial<Job>>): void {
    if (view) {
      mergeTryChange(view, live, payload.new as Partial<Job>);
      draw();
    }
    void refresh(); // the new try's row, its picture, queue positions
  }

  function progress(payload: unknown): void {
    const jobId = recordProgress(live, payload);
    if (jobId === null) return;
    if (view && !view.jobs.some((job) => job.id === jobId)) void refresh();
    draw();
  }

  // The number keys pick; in the lightbox they act on the picture it shows (lightbox.ts).
  const stopKeys = onPickKeys((idx) => (viewer.isOpen() ? viewer.pickKey(idx) : void actions.pick(idx)));
  const stopTabs = onOtherTabs((news) => {
    if (news.series === seriesId) void refresh();
  });
  const poll = window.setInterval(() => {
    if (gone) return;
    if (!view || actions.awaitingRead() || view.jobs.some((job) => isUnfinished(job.status))) void refresh();
  }, POLL_MS);
  void refresh();

  return () => {
    stopped = true;
    window.clearInterval(poll);
    stopKeys();
    stopTabs();
    viewer.destroy();
    updates.stop();
    document.title = "Imagen";
  };
}
