// One series: a tile per try (queued with its place in line, running with a progress bar and the
// latest preview, the thumbnail when done, the error when failed), the winner picked with a try's
// Pick button or by the keys 1–9 and 0 (= 10), and the series' actions. Clicking a picture opens
// it full size in the lightbox (./lightbox.ts), where tries are compared and picked too.
//
// Live updates: postgres_changes on imagen.jobs (this series) and imagen.series (this row), and
// the private Broadcast topic series:<id> with the worker's per-step progress. Events are hints:
// on every (re)subscribe, and every 3 s while a try is unfinished, the rows are read again, so a
// missed event never leaves a tile stale.
import type { RealtimeChannel, RealtimePostgresChangesPayload } from "@supabase/supabase-js";
import { ApiError, type Image, type Job, type QueuePlace, type SeriesView, UNFINISHED } from "../api";
import { type Cleanup, type Ctx, errorMessage } from "../context";
import { announce, attr, clip, h, show, syncList, text } from "../dom";
import { thumbnailPath, withThumbnails } from "../pictures";
import { addTriesProblem, inFieldWords, LIMITS } from "../rules";
import { isTyping } from "./keys";
import { lightbox, type Shot } from "./lightbox";

const POLL_MS = 3000;

/** Whether a row stamped `candidate` may replace one stamped `shown` (updated_at, stamped by a
 * trigger on every change; PostgREST and Realtime write it differently, so compare instants). */
function isNewer(candidate: string | undefined, shown: string | undefined): boolean {
  if (!candidate || !shown) return true;
  return !(Date.parse(candidate.replace(" ", "T").replace(/([+-]\d\d)$/, "$1:00")) < Date.parse(shown)); // unreadable: newer
}

/** The worker's Broadcast payload (worker/imagen/transports/progress.py). */
interface Progress {
  job_id: string;
  series_idx: number | null;
  step: number;
  steps: number;
  preview_jpeg?: string;
}

function asProgress(payload: unknown): Progress | null {
  if (typeof payload !== "object" || payload === null) return null;
  const p = payload as Record<string, unknown>;
  if (typeof p.job_id !== "string" || typeof p.step !== "number" || typeof p.steps !== "number") return null;
  return {
    job_id: p.job_id,
    series_idx: typeof p.series_idx === "number" ? p.series_idx : null,
    step: p.step,
    steps: p.steps,
    preview_jpeg: typeof p.preview_jpeg === "string" && p.preview_jpeg !== "" ? p.preview_jpeg : undefined,
  };
}

/** The key that picks try `idx` (1–9, and 0 for 10). */
function keyFor(idx: number): string | null {
  if (idx >= 1 && idx <= 9) return String(idx);
  return idx === 10 ? "0" : null;
}

/** "#5 in the queue (#2 of yours) · starts in about 40 s": the database's places, said in words. */
function queuePlaceText(p: QueuePlace): string {
  let words = `#${p.place} in the queue (#${p.placeInLine} of yours)`;
  if (p.expectedStart !== null) {
    const seconds = Math.max(0, Math.round((Date.parse(p.expectedStart) - Date.now()) / 1000));
    words += seconds < 90 ? ` · starts in about ${seconds} s` : ` · starts in about ${Math.round(seconds / 60)} min`;
  }
  return words;
}

type ChannelKind = "rows" | "progress";

interface Tile {
  job: Job;
  image: Image | null;
  url: string | null;
  thumbnailUrl: string | null;
  downloadUrl: string | null;
  live: Progress | null;
  position: QueuePlace | null;
  winner: boolean;
}

export function renderSeries(ctx: Ctx, main: HTMLElement, seriesId: string): Cleanup {
  let view: SeriesView | null = null;
  let stopped = false;
  let gone = false; // no such series (or not the user's): stop reading
  // The latest step of each try, and when it arrived (performance.now()).
  const live = new Map<string, Progress & { at: number }>();
  const urls = new Map<string, string>();
  const downloads = new Map<string, string>();
  const channelState: Record<ChannelKind, string> = { rows: "connecting", progress: "connecting" };
  let lost = false; // a channel closed or failed since the page was last live: re-joining
  let readFailed = false; // the last read of the rows failed (no network, no project)

  // --- the page's fixed parts ------------------------------------------------------------------
  const title = h("h1", { class: "series-prompt", "data-testid": "series-prompt" });
  const settings = h("p", { class: "muted", "data-testid": "series-settings" });
  // Lineage both ways: the try this series varies, and the variation series made from this one.
  const parentLink = h("p", { class: "lineage", "data-testid": "series-parent" });
  const childLinks = h("p", { class: "lineage", "data-testid": "series-children" });
  const rerun = h("button", { type: "button", "data-testid": "rerun" }, "Rerun with new seeds");
  const useSettings = h("a", { class: "button", href: `#/new?from=${seriesId}`, "data-testid": "use-settings" }, "Use these settings");
  const summary = h("p", { class: "summary", "data-testid": "series-summary", "aria-live": "polite" });
  const liveStatus = h("span", { class: "live-status", "data-testid": "live-status" });
  const actionError = h("p", { class: "field-error", role: "alert", "data-testid": "series-error" });
  const stopRest = h("input", { type: "checkbox", id: "stop-rest", "data-testid": "stop-rest" });
  const cancelSeries = h("button", { type: "button", "data-testid": "cancel-series" }, "Cancel series");
  const deleteSeries = h("button", { type: "button", class: "danger", "data-testid": "delete-series" }, "Delete series");
  const addN = h("input", {
    type: "number",
    id: "add-n",
    name: "n",
    min: 1,
    max: LIMITS.nMax,
    step: 1,
    value: "1",
    inputMode: "numeric",
    "data-testid": "add-tries-n",
    "aria-describedby": "hint-add-n",
  });
  const addError = h("p", { id: "error-add-n", class: "field-error", "data-testid": "error-add-n" });
  const addHint = h("p", { id: "hint-add-n", class: "hint" });
  const addButton = h("button", { type: "submit", "data-testid": "add-tries" }, "Add");
  const addForm = h(
    "form",
    { class: "add-tries", "aria-label": "Add tries", noValidate: true },
    h("label", { for: "add-n" }, "Add tries"),
    h("span", { class: "inline" }, addN, addButton),
    addHint,
    addError,
  );
  const tileList = h("ol", { class: "grid tiles", "aria-label": "Tries", "data-testid": "tiles" });
  const missing = h("p", { class: "muted", "data-testid": "series-missing" }, "There is no such series (or it is not yours). ", h("a", { href: "#/" }, "Back to the gallery"));
  show(actionError, false);
  show(addError, false);
  show(missing, false);

  const page = h(
    "div",
    { class: "series-page" },
    h("p", { class: "crumbs" }, h("a", { href: "#/" }, "← Gallery"), " ", liveStatus),
    title,
    settings,
    parentLink,
    childLinks,
    summary,
    h("div", { class: "toolbar" }, rerun, useSettings),
    h(
      "div",
      { class: "toolbar" },
      h("span", { class: "check" }, stopRest, h("label", { for: "stop-rest" }, "Stop the other tries when I pick")),
      cancelSeries,
      deleteSeries,
    ),
    addForm,
    actionError,
    h("p", { class: "hint", id: "pick-hint" }, "Click a picture to see it full size and compare; pick the winner with its Pick button or its number key (1–9, 0 for 10)."),
    tileList,
  );
  main.replaceChildren(h("p", { class: "muted", "data-testid": "series-loading" }, "Loading…"));
  let shots: Shot[] = [];
  const viewer = lightbox({
    prompt: () => view?.series.prompt ?? "",
    shots: () => shots,
    pick: (idx) => choose(idx),
    vary: async (idx, n, strength) => {
      const imageId = jobAt(idx)?.image_id;
      if (!imageId) throw new Error(`Try ${idx} has no picture`);
      location.hash = `#/series/${await ctx.api.varyImage(imageId, n, strength)}`;
    },
  });

  // --- tiles -----------------------------------------------------------------------------------
  function createTile(tile: Tile): HTMLLIElement {
    const idx = tile.job.series_idx ?? 0;
    const key = keyFor(idx);
    const picture = h("img", { class: "picture", alt: "", loading: "lazy", "data-testid": `picture-${idx}` });
    const open = h("button", { type: "button", class: "open", "data-testid": `open-${idx}` }, picture);
    open.addEventListener("click", () => viewer.open(idx));
    const pick = h(
      "button",
      {
        type: "button",
        "data-testid": `pick-${idx}`,
        "aria-pressed": "false",
        "aria-label": `Pick try ${idx} as the winner`,
        "aria-describedby": "pick-hint",
        "aria-keyshortcuts": key,
      },
      "Pick",
    );
    pick.addEventListener("click", () => void choose(idx));
    const preview = h("img", { class: "preview", alt: `Preview of try ${idx}`, "data-testid": `preview-${idx}` });
    const placeholder = h("div", { class: "placeholder", "aria-hidden": "true" }, `#${idx}`);
    const fill = h("div", { class: "fill" });
    const bar = h(
      "div",
      {
        class: "progress",
        role: "progressbar",
        "aria-label": `Try ${idx} progress`,
        "aria-valuemin": 0,
        "data-testid": `progress-${idx}`,
      },
      fill,
    );
    const retry = h("button", { type: "button", "data-testid": `retry-${idx}`, "aria-label": `Retry try ${idx}` }, "Retry");
    retry.addEventListener("click", () => void act(() => ctx.api.retryJob(jobAt(idx)!.id), `Try ${idx} is queued again`));
    const cancel = h("button", { type: "button", "data-testid": `cancel-${idx}`, "aria-label": `Cancel try ${idx}` }, "Cancel");
    cancel.addEventListener("click", () => void act(() => ctx.api.cancelJob(jobAt(idx)!.id), `Try ${idx} is being cancelled`));
    const copySeed = h("button", { type: "button", "data-testid": `copy-seed-${idx}`, "aria-label": `Copy seed of try ${idx}` }, "Copy seed");
    copySeed.addEventListener("click", async () => {
      const seed = String(jobAt(idx)?.seed ?? "");
      try {
        await navigator.clipboard.writeText(seed);
        announce(`Seed ${seed} copied`);
      } catch {
        window.prompt("The seed (copy it from here):", seed);
      }
    });
    const vary = h("button", { type: "button", "data-testid": `vary-${idx}`, "aria-label": `More like this: try ${idx}` }, "More like this");
    vary.addEventListener("click", () => viewer.openToVary(idx));
    const download = h(
      "a",
      { class: "button", "data-testid": `download-${idx}`, "aria-label": `Download try ${idx}`, download: `imagen-${seriesId.slice(0, 8)}-${idx}.png` },
      "Download",
    );
    return h(
      "li",
      { class: "tile card", "data-testid": `tile-${idx}`, "data-index": idx, "aria-labelledby": `tile-title-${idx}` },
      h(
        "div",
        { class: "tile-head" },
        h("h2", { id: `tile-title-${idx}`, class: "tile-title" }, `Try ${idx}`),
        h("span", { class: "badge winner-badge", "data-testid": `winner-${idx}` }, "Winner"),
      ),
      h("div", { class: "media" }, open, preview, placeholder),
      h("p", { class: "status", "data-testid": `tile-status-${idx}` }),
      bar,
      h("p", { class: "tile-error field-error", "data-testid": `error-${idx}` }),
      h("div", { class: "actions" }, pick, vary, retry, cancel, copySeed, download),
    );
  }

  function updateTile(li: HTMLLIElement, tile: Tile): void {
    const { job } = tile;
    const idx = job.series_idx ?? 0;
    const running = job.status === "running" || (job.status === "queued" && tile.live !== null);
    const status = running ? "running" : job.status;
    attr(li, "data-status", status);
    attr(li, "data-winner", tile.winner ? "true" : "false");
    attr(li, "data-job-id", job.id);
    attr(li, "data-seed", job.seed);
    attr(li, "aria-current", tile.winner ? "true" : null);
    li.classList.toggle("is-winner", tile.winner);
    show(li.querySelector<HTMLElement>(".winner-badge")!, tile.winner);

    const steps = tile.live?.steps ?? job.steps;
    const step = job.status === "done" ? steps : Math.min(steps, Math.max(job.progress, tile.live?.step ?? 0));
    let statusText: string;
    switch (status) {
      case "queued":
        statusText = tile.position !== null ? `Queued · ${queuePlaceText(tile.position)}` : "Queued";
        if (job.attempts > 0) statusText += ` · attempt ${job.attempts + 1} of ${job.max_attempts}`;
        break;
      case "running":
        statusText = job.cancel_requested ? "Stopping…" : `Rendering · step ${step} of ${steps}`;
        break;
      case "done":
        statusText = tile.winner ? "Done · winner" : "Done";
        break;
      case "failed":
        statusText = "Failed";
        break;
      case "cancelled":
        statusText = "Cancelled";
        break;
      default:
        statusText = status;
    }
    text(li.querySelector(".status")!, `${statusText} · seed ${job.seed}`);
    attr(li, "data-queue-position", status === "queued" ? (tile.position?.place ?? null) : null);
    attr(li, "data-line-position", status === "queued" ? (tile.position?.placeInLine ?? null) : null);

    const bar = li.querySelector<HTMLElement>(".progress")!;
    show(bar, status === "running");
    attr(bar, "aria-valuemax", steps);
    attr(bar, "aria-valuenow", step);
    attr(bar, "aria-valuetext", `step ${step} of ${steps}`);
    bar.querySelector<HTMLElement>(".fill")!.style.width = `${steps > 0 ? (100 * step) / steps : 0}%`;

    const media = li.querySelector<HTMLElement>(".media")!;
    if (view) media.style.aspectRatio = `${view.series.width} / ${view.series.height}`;

    const open = li.querySelector<HTMLButtonElement>(".open")!;
    const picture = open.querySelector("img")!;
    const hasPicture = job.status === "done" && tile.thumbnailUrl !== null;
    show(open, hasPicture);
    attr(picture, "src", tile.thumbnailUrl);
    attr(picture, "alt", `Try ${idx}${tile.winner ? " (winner)" : ""}: ${view?.series.prompt ?? ""}`);
    attr(open, "aria-label", `Open try ${idx} full size`);
    const pick = li.querySelector<HTMLButtonElement>(`[data-testid="pick-${idx}"]`)!;
    show(pick, job.status === "done");
    show(li.querySelector<HTMLElement>(`[data-testid="vary-${idx}"]`)!, job.status === "done" && job.image_id !== null);
    attr(pick, "aria-pressed", tile.winner ? "true" : "false");
    text(pick, tile.winner ? "Winner ✓" : "Pick");
    attr(pick, "aria-label", tile.winner ? `Winner ✓: try ${idx}` : `Pick try ${idx} as the winner`);

    const preview = li.querySelector<HTMLImageElement>(".preview")!;
    const previewSrc = status === "running" && tile.live?.preview_jpeg ? `data:image/jpeg;base64,${tile.live.preview_jpeg}` : null;
    attr(preview, "src", previewSrc);
    attr(preview, "alt", `Preview of try ${idx} at step ${step} of ${steps}`);
    show(preview, previewSrc !== null);
    show(li.querySelector<HTMLElement>(".placeholder")!, !hasPicture && previewSrc === null);

    const error = li.querySelector<HTMLElement>(".tile-error")!;
    text(error, job.error ?? "");
    show(error, job.status === "failed" && !!job.error);

    show(li.querySelector<HTMLElement>(`[data-testid="retry-${idx}"]`)!, job.status === "failed" || job.status === "cancelled");
    const cancel = li.querySelector<HTMLButtonElement>(`[data-testid="cancel-${idx}"]`)!;
    show(cancel, UNFINISHED.includes(job.status));
    cancel.disabled = job.cancel_requested;
    const download = li.querySelector<HTMLAnchorElement>(`[data-testid="download-${idx}"]`)!;
    attr(download, "href", tile.downloadUrl);
    show(download, job.status === "done" && tile.downloadUrl !== null);
  }

  function jobAt(idx: number): Job | undefined {
    return view?.jobs.find((job) => job.series_idx === idx);
  }

  // --- drawing ---------------------------------------------------------------------------------
  function draw(): void {
    if (stopped) return;
    if (!view) return;
    if (!page.isConnected) main.replaceChildren(page);
    const { series, jobs, images } = view;
    const imageById = new Map(images.map((image) => [image.id, image]));
    text(title, series.prompt);
    attr(title, "title", series.prompt); // the heading shows three lines at most (style.css)
    document.title = `${clip(series.prompt, 60)} · Imagen`;
    const parts = [`${series.width}×${series.height}`, `${series.steps} steps`];
    parts.push(series.base_seed !== null ? `seed ${series.base_seed}` : "random seeds");
    if (series.style) parts.push(`style: ${series.style}`);
    if (series.strength !== null) parts.push(`variations at ${series.strength} % strength`);
    text(settings, parts.join(" · "));
    drawLineage(view);
    const done = jobs.filter((job) => job.status === "done").length;
    const unfinished = jobs.filter((job) => UNFINISHED.includes(job.status)).length;
    text(summary, `${done} of ${series.count} done${series.selected_image_id ? " · winner picked" : ""}`);
    attr(summary, "data-done", done);
    attr(summary, "data-count", series.count);
    cancelSeries.disabled = unfinished === 0;
    const room = LIMITS.nMax - series.count;
    show(addForm, room > 0);
    addN.max = String(Math.max(room, 1));
    text(addHint, `up to ${room} more (a series has at most ${LIMITS.nMax} tries)`);

    const tiles: Tile[] = jobs.map((job) => {
      const image = job.image_id ? (imageById.get(job.image_id) ?? null) : null;
      const progress = live.get(job.id) ?? null;
      return {
        job,
        image,
        url: image ? (urls.get(image.path) ?? null) : null,
        // A picture stored before thumbnails existed has none: the picture itself then.
        thumbnailUrl: image ? (urls.get(thumbnailPath(image.path)) ?? urls.get(image.path) ?? null) : null,
        downloadUrl: image ? (downloads.get(image.path) ?? null) : null,
        live: job.status === "running" || job.status === "queued" ? progress : null,
        position: view!.queuePosition.get(job.id) ?? null,
        winner: image !== null && series.selected_image_id === image.id,
      };
    });
    syncList(tileList, tiles, (tile) => String(tile.job.series_idx), createTile, updateTile);
    shots = tiles.flatMap((tile) =>
      tile.job.status === "done" && tile.image
        ? [{ idx: tile.job.series_idx ?? 0, seed: tile.job.seed, url: tile.url, downloadUrl: tile.downloadUrl, winner: tile.winner }]
        : [],
    );
    viewer.refresh();
  }

  function drawLineage({ series, parent, children, jobs, images }: SeriesView): void {
    if (parent?.seriesId) {
      parentLink.replaceChildren("More like try ", String(parent.idx ?? "?"), " of ", h("a", { href: `#/series/${parent.seriesId}` }, "the series it came from"));
    } else {
      parentLink.replaceChildren(series.parent_image_id !== null ? "More like one of your pictures" : "More like a picture since deleted");
    }
    show(parentLink, series.strength !== null);
    const idxOfImage = (imageId: string | null) => jobs.find((job) => job.image_id === imageId)?.series_idx;
    childLinks.replaceChildren(
      "Variations: ",
      ...children.flatMap((child, i) => [
        i > 0 ? ", " : "",
        h("a", { href: `#/series/${child.id}` }, `of try ${idxOfImage(child.parent_image_id) ?? "?"} (${child.count} tries)`),
      ]),
    );
    show(childLinks, children.length > 0 && images.length > 0);
  }

  // What the page can honestly say about its updates: live (both channels joined), connecting or
  // reconnecting (re-joining; the rows are re-read every 3 s meanwhile), offline (no network, or
  // the last read failed).
  function drawLiveStatus(): void {
    const ok = channelState.rows === "SUBSCRIBED" && channelState.progress === "SUBSCRIBED";
    if (ok) lost = false;
    const state = !navigator.onLine || readFailed ? "offline" : ok ? "live" : lost ? "reconnecting" : "connecting";
    const words = {
      live: "● live",
      connecting: "◌ connecting · updating every 3 s",
      reconnecting: "◌ reconnecting · updating every 3 s",
      offline: "○ offline · retrying",
    };
    attr(liveStatus, "data-state", state);
    text(liveStatus, words[state]);
    attr(liveStatus, "title", `rows: ${channelState.rows}, progress: ${channelState.progress}`);
  }
  window.addEventListener("online", drawLiveStatus);
  window.addEventListener("offline", drawLiveStatus);

  // --- reading ---------------------------------------------------------------------------------
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
      const next = await ctx.api.readSeries(seriesId);
      if (stopped) return;
      if (readFailed) {
        readFailed = false;
        drawLiveStatus();
      }
      if (!next) {
        view = null;
        gone = true;
        unwatch(); // nothing to watch: no re-joining either
        main.replaceChildren(missing);
        show(missing, true);
        return;
      }
      view = next;
      // A try that is not running (any more) has no live progress.
      // A finished try has no live progress; neither has a queued one, unless its progress came
      // after this read began (the read may predate the claim).
      for (const job of next.jobs) {
        const progress = live.get(job.id);
        if (progress && job.status !== "running" && (job.status !== "queued" || progress.at < started)) live.delete(job.id);
      }
      const done = next.images.filter((image) => next.jobs.some((job) => job.image_id === image.id));
      try {
        for (const [path, url] of await ctx.pictures.viewUrls(withThumbnails(done))) urls.set(path, url);
        await Promise.all(
          done.map(async (image) => {
            const idx = next.jobs.find((job) => job.id === image.job_id)?.series_idx ?? 0;
            downloads.set(image.path, await ctx.pictures.downloadUrl(image.bucket, image.path, `imagen-${seriesId.slice(0, 8)}-${idx}.png`));
          }),
        );
      } catch (e) {
        console.warn("imagen: could not sign picture URLs", e);
      }
      draw();
    } catch (e) {
      if (stopped) return;
      readFailed = true;
      drawLiveStatus();
      showActionError(`Could not read the series: ${errorMessage(e)}`);
    }
  }

  // --- acting ----------------------------------------------------------------------------------
  function showActionError(message: string | null): void {
    text(actionError, message ?? "");
    show(actionError, message !== null);
    if (message !== null && !page.isConnected) main.replaceChildren(page);
  }

  async function act(action: () => Promise<void>, done: string): Promise<boolean> {
    showActionError(null);
    try {
      await action();
      announce(done);
      await refresh();
      return true;
    } catch (e) {
      showActionError(errorMessage(e));
      return false;
    }
  }

  async function choose(idx: number): Promise<void> {
    const job = jobAt(idx);
    if (!view || !job || job.status !== "done" || !job.image_id) {
      announce(`Try ${idx} has no picture yet`);
      return;
    }
    const imageId = job.image_id;
    showActionError(null);
    try {
      view.series = await ctx.api.selectImage(seriesId, imageId, stopRest.checked);
      draw();
      announce(`Try ${idx} is the winner`);
      if (stopRest.checked) await refresh();
    } catch (e) {
      showActionError(errorMessage(e));
    }
  }

  rerun.addEventListener("click", async () => {
    if (!view) return;
    showActionError(null);
    rerun.disabled = true;
    try {
      location.hash = `#/series/${await ctx.api.rerun(view.series)}`;
    } catch (e) {
      showActionError(errorMessage(e));
    } finally {
      rerun.disabled = false;
    }
  });
  cancelSeries.addEventListener("click", () => void act(() => ctx.api.cancelSeries(seriesId), "The series is being cancelled"));
  deleteSeries.addEventListener("click", async () => {
    if (!window.confirm("Delete this series with all its tries and pictures?")) return;
    if (await act(() => ctx.api.deleteSeries(seriesId), "Series deleted")) location.hash = "#/";
  });
  addForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!view) return;
    show(addError, false);
    attr(addN, "aria-invalid", null);
    attr(addN, "aria-describedby", "hint-add-n");
    const problem = addTriesProblem(addN.value, view.series.count);
    const fail = (message: string) => {
      text(addError, inFieldWords(message));
      show(addError, true);
      attr(addN, "aria-invalid", "true");
      attr(addN, "aria-describedby", "error-add-n hint-add-n");
      addN.focus();
    };
    if (problem && localStorage.getItem("imagen:client-checks") !== "off") return fail(problem);
    addButton.disabled = true;
    try {
      await ctx.api.addTries(seriesId, Number(addN.value));
      announce("Tries added");
      await refresh();
    } catch (e) {
      const message = errorMessage(e);
      if (e instanceof ApiError && e.code === "22023" && /^n\b/.test(message)) fail(message);
      else showActionError(message);
    } finally {
      addButton.disabled = false;
    }
  });

  function onKey(event: KeyboardEvent): void {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
    if (!/^[0-9]$/.test(event.key)) return;
    event.preventDefault();
    void choose(event.key === "0" ? 10 : Number(event.key));
  }
  document.addEventListener("keydown", onKey);

  // --- live ------------------------------------------------------------------------------------
  function onJobChange(payload: RealtimePostgresChangesPayload<Partial<Job>>): void {
    const row = payload.new as Partial<Job>;
    if (view && typeof row.id === "string") {
      const index = view.jobs.findIndex((job) => job.id === row.id);
      // A change that arrives late (Realtime behind, a re-read already newer) is older than the row
      // shown: merging it would turn a finished try back into a running one until the next change.
      if (index >= 0 && isNewer(row.updated_at, view.jobs[index]!.updated_at)) view.jobs[index] = { ...view.jobs[index]!, ...row };
      if (row.status !== undefined && row.status !== "running" && row.status !== "queued") live.delete(row.id);
      draw();
    }
    void refresh(); // the new try's row, its picture, queue positions
  }

  function onProgress(payload: unknown): void {
    const progress = asProgress(payload);
    if (!progress) return;
    const previous = live.get(progress.job_id);
    // Keep the last preview when a message comes without one; never go backwards.
    if (previous && previous.step > progress.step && previous.steps === progress.steps) return;
    live.set(progress.job_id, { ...progress, preview_jpeg: progress.preview_jpeg ?? previous?.preview_jpeg, at: performance.now() });
    if (view && !view.jobs.some((job) => job.id === progress.job_id)) void refresh();
    draw();
  }

  // Each channel is joined with a fresh token (setAuth asks the session, which refreshes an
  // expiring one) and joined again after Realtime closes it (an expired token, the project's
  // quota, a restart) or it fails, backing off from 1 s to 30 s; never for a page that is gone.
  // A channel Realtime closes after it was live a while is joined again at once (once the old one
  // has left): a try on a GPU lasts about a second, and a wait would cost the try that starts
  // meanwhile all its progress. One closed again soon after joining backs off.
  const SETTLED_MS = 1000;
  const channels = new Map<ChannelKind, RealtimeChannel>();
  const rejoins = new Map<ChannelKind, number>();

  function joinLater(kind: ChannelKind, make: () => RealtimeChannel, attempt: number): void {
    const delay = Math.min(30_000, 1000 * 2 ** attempt) * (0.5 + Math.random() / 2);
    rejoins.set(kind, window.setTimeout(() => join(kind, make, attempt + 1), delay));
  }

  function join(kind: ChannelKind, make: () => RealtimeChannel, attempt = 0): void {
    if (stopped || gone) return;
    ctx.db.realtime.setAuth().then(() => {
      if (stopped || gone) return;
      const channel = make();
      channels.set(kind, channel);
      let liveSince: number | null = null;
      channel.subscribe((status, err) => {
        if (channels.get(kind) !== channel) return; // an old channel's last words
        channelState[kind] = status;
        if (status === "SUBSCRIBED") {
          attempt = 0;
          liveSince = performance.now();
          void refresh();
        } else if (status === "CLOSED" || status === "CHANNEL_ERROR" || status === "TIMED_OUT") {
          if (err) console.warn(`imagen: ${kind} channel ${status}`, err);
          lost = true;
          channels.delete(kind);
          const removed = ctx.db.removeChannel(channel);
          const settled = status === "CLOSED" && liveSince !== null && performance.now() - liveSince >= SETTLED_MS;
          if (settled) void removed.finally(() => join(kind, make));
          else joinLater(kind, make, attempt);
        }
        drawLiveStatus();
      });
    }, () => joinLater(kind, make, attempt)); // no fresh token yet (offline): try again later
  }

  function watch(): void {
    const filter = `series_id=eq.${seriesId}`;
    join("rows", () =>
      ctx.db
        .channel(`imagen-series-rows:${seriesId}`)
        .on("postgres_changes", { event: "INSERT", schema: "imagen", table: "jobs", filter }, onJobChange)
        .on("postgres_changes", { event: "UPDATE", schema: "imagen", table: "jobs", filter }, onJobChange)
        .on("postgres_changes", { event: "UPDATE", schema: "imagen", table: "series", filter: `id=eq.${seriesId}` }, () => void refresh()));
    // Private: authorized with the user's JWT, which join() hands to Realtime first.
    join("progress", () =>
      ctx.db
        .channel(`series:${seriesId}`, { config: { private: true } })
        .on("broadcast", { event: "progress" }, (message) => onProgress(message.payload)));
  }

  function unwatch(): void {
    for (const timer of rejoins.values()) window.clearTimeout(timer);
    rejoins.clear();
    for (const channel of channels.values()) void ctx.db.removeChannel(channel);
    channels.clear();
  }

  const poll = window.setInterval(() => {
    if (gone) return;
    if (!view || view.jobs.some((job) => UNFINISHED.includes(job.status))) void refresh();
  }, POLL_MS);

  drawLiveStatus();
  void refresh();
  watch();

  return () => {
    stopped = true;
    window.clearInterval(poll);
    document.removeEventListener("keydown", onKey);
    viewer.destroy();
    window.removeEventListener("online", drawLiveStatus);
    window.removeEventListener("offline", drawLiveStatus);
    unwatch();
    document.title = "Imagen";
  };
}
