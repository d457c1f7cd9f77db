// The series page's tiles, one per try: queued with its place in line, running with a progress bar
// and the latest preview, the thumbnail when done, the error when failed; and the try's own
// actions on it (pick, more like this, upscale, edit a region, retry, cancel, copy seed, download).
import { type Image, isUnfinished, type Job } from "../api";
import { attr, h, show, text } from "../dom";
import { thumbnailPath } from "../pictures";
import { type SeriesSettings, trySettings } from "../settings";
import { pickKeyFor } from "./keys";
import type { PictureAction, Shot } from "./lightbox";
import type { LiveSteps, Progress } from "./series-live";
import { downloadName, type QueuePlace, type SeriesView } from "./series-data";

export interface Tile {
  job: Job;
  image: Image | null;
  url: string | null;
  thumbnailUrl: string | null;
  downloadUrl: string | null;
  live: Progress | null;
  position: QueuePlace | null;
  winner: boolean;
  /** The series' prompt and its pictures' aspect ratio ("W / H"). */
  prompt: string;
  aspect: string;
}

/** What a tile's buttons do, by the try's index. */
export interface TileActions {
  open(idx: number): void;
  openTo(idx: number, what: PictureAction): void;
  pick(idx: number): void;
  retry(idx: number): void;
  cancel(idx: number): void;
  copySeed(idx: number): void;
  /** Opens try idx in the lightbox beside the next finished try, to compare. */
  compare(idx: number): void;
}

/** "in about 40 s", "in about 3 min", or a range ("in 20–60 s") where the database says its
 * estimate is less sure than a quarter either way. */
function startsIn(seconds: number, error: number | null): string {
  const words = (s: number) => (s < 90 ? `${Math.round(s)} s` : `${Math.round(s / 60)} min`);
  if (error !== null && error <= 0.25) return `starts in about ${words(seconds)}`;
  const spread = Math.min(error ?? 0.5, 0.9);
  const low = seconds * (1 - spread);
  const high = seconds * (1 + spread);
  return high < 90 ? `starts in ${Math.round(low)}–${Math.round(high)} s` : `starts in ${words(low)}–${words(high)}`;
}

/** "#5 in the queue (#2 of yours) · starts in about 40 s": the database's places, said in words. */
function queuePlaceText(p: QueuePlace): string {
  let words = `#${p.place} in the queue (#${p.placeInLine} of yours)`;
  if (p.expectedStart !== null) {
    words += ` · ${startsIn(Math.max(0, (Date.parse(p.expectedStart) - Date.now()) / 1000), p.error)}`;
  }
  return words;
}

/** The tiles of what the page shows: each try with its picture's signed URLs and its live step. */
export function tilesOf(view: SeriesView, settings: SeriesSettings, live: LiveSteps, urls: Map<string, string>, downloads: Map<string, string>): Tile[] {
  const imageById = new Map(view.images.map((image) => [image.id, image]));
  return view.jobs.map((job) => {
    const image = job.image_id ? (imageById.get(job.image_id) ?? null) : null;
    const progress = live.get(job.id) ?? null;
    return {
      job,
      image,
      url: image ? (urls.get(image.path) ?? null) : null,
      // A picture stored before thumbnails existed has none: the picture itself then.
      thumbnailUrl: image ? (urls.get(thumbnailPath(image.path)) ?? urls.get(image.path) ?? null) : null,
      downloadUrl: image ? (downloads.get(image.path) ?? null) : null,
      live: isUnfinished(job.status) ? progress : null,
      position: view.queuePosition.get(job.id) ?? null,
      winner: image !== null && view.series.selected_image_id === image.id,
      prompt: settings.prompt,
      aspect: `${settings.width} / ${settings.height}`,
    };
  });
}

/** The finished tries, as the lightbox shows them. */
export function shotsOf(tiles: Tile[]): Shot[] {
  return tiles.flatMap((tile) =>
    tile.job.status === "done" && tile.image
      ? [{ idx: tile.job.series_idx ?? 0, seed: trySettings(tile.job).seed, url: tile.url, downloadUrl: tile.downloadUrl, winner: tile.winner }]
      : [],
  );
}

/** A tile's per-picture actions: Pick, Save and Retry/Cancel in a word, the others a symbol; the whole
 * action is each one's label and tooltip. */
const TILE_ACTIONS: { testid: string; words: string; label: (idx: number) => string; run: (a: TileActions, idx: number) => void }[] = [
  { testid: "pick", words: "☆ Pick", label: (i) => `Pick try ${i} as the winner`, run: (a, i) => a.pick(i) },
  { testid: "look", words: "⤢", label: (i) => `Look at try ${i} full size`, run: (a, i) => a.open(i) },
  { testid: "compare", words: "⇆", label: (i) => `Compare try ${i} with another`, run: (a, i) => a.compare(i) },
  { testid: "vary", words: "≈", label: (i) => `Vary try ${i}: more like this`, run: (a, i) => a.openTo(i, "vary") },
  { testid: "upscale", words: "⇱", label: (i) => `Upscale try ${i}`, run: (a, i) => a.openTo(i, "upscale") },
  { testid: "edit", words: "✎", label: (i) => `Edit a region of try ${i}`, run: (a, i) => a.openTo(i, "edit") },
  { testid: "copy-seed", words: "#", label: (i) => `Copy seed of try ${i}`, run: (a, i) => a.copySeed(i) },
  { testid: "retry", words: "↻ Retry", label: (i) => `Retry try ${i}`, run: (a, i) => a.retry(i) },
  { testid: "cancel", words: "✕ Cancel", label: (i) => `Cancel try ${i}`, run: (a, i) => a.cancel(i) },
];

export function createTile(tile: Tile, seriesId: string, actions: TileActions): HTMLLIElement {
  const idx = tile.job.series_idx ?? 0;
  const buttons = TILE_ACTIONS.map(({ testid, words, label, run }) => {
    const el = h("button", { type: "button", class: `tile-action act-${testid}`, "data-testid": `${testid}-${idx}`, "aria-label": label(idx), title: label(idx) }, words);
    el.addEventListener("click", () => run(actions, idx));
    return el;
  });
  const pick = buttons[0]!;
  attr(pick, "aria-pressed", "false");
  attr(pick, "aria-describedby", "pick-hint");
  attr(pick, "aria-keyshortcuts", pickKeyFor(idx));
  const picture = h("img", { class: "picture", alt: "", loading: "lazy", "data-testid": `picture-${idx}` });
  const open = h("button", { type: "button", class: "open", "data-testid": `open-${idx}` }, picture);
  open.addEventListener("click", () => actions.open(idx));
  const preview = h("img", { class: "preview", alt: `Preview of try ${idx}`, "data-testid": `preview-${idx}` });
  const placeholder = h("div", { class: "placeholder", "aria-hidden": "true" }, h("span", { class: "placeholder-words" }));
  const bar = h(
    "div",
    { class: "progress", role: "progressbar", "aria-label": `Try ${idx} progress`, "aria-valuemin": 0, "data-testid": `progress-${idx}` },
    h("div", { class: "fill" }),
  );
  const download = h(
    "a",
    { class: "button tile-action", "data-testid": `download-${idx}`, "aria-label": `Save try ${idx} (download)`, title: `Save try ${idx} (download)`, download: downloadName(seriesId, idx) },
    "⬇ Save",
  );
  return h(
    "li",
    { class: "tile", "data-testid": `tile-${idx}`, "data-index": idx, "aria-labelledby": `tile-title-${idx}` },
    h(
      "div",
      { class: "media" },
      open,
      preview,
      placeholder,
      h(
        "div",
        { class: "tile-head" },
        h("h2", { id: `tile-title-${idx}`, class: "tile-title" }, `Try ${idx}`),
        h("span", { class: "badge winner-badge", "data-testid": `winner-${idx}` }, "Winner"),
      ),
      bar,
    ),
    h("p", { class: "status", "data-testid": `tile-status-${idx}` }),
    h("p", { class: "tile-error field-error", "data-testid": `error-${idx}` }),
    h("div", { class: "actions tile-actions", role: "group", "aria-label": `Try ${idx}` }, ...buttons, download),
  );
}

/** What a tile without a picture says on it, by state. */
const PLACEHOLDER_WORDS: Record<string, string> = { queued: "queued", running: "rendering", failed: "failed", cancelled: "cancelled", done: "done" };

/** What a tile says about its try's state, with its step of steps when running. */
function statusWords(tile: Tile, status: string, step: number, steps: number): string {
  const { job } = tile;
  switch (status) {
    case "queued": {
      const words = tile.position !== null ? `Queued · ${queuePlaceText(tile.position)}` : "Queued";
      return job.attempts > 0 ? `${words} · attempt ${job.attempts + 1} of ${job.max_attempts}` : words;
    }
    case "running":
      return job.cancel_requested ? "Stopping…" : `Rendering · step ${step} of ${steps}`;
    case "done":
      return tile.winner ? "Done · winner" : "Done";
    case "failed":
      return "Failed";
    case "cancelled":
      return "Cancelled";
    default:
      return status;
  }
}

export function updateTile(li: HTMLLIElement, tile: Tile): void {
  const { job } = tile;
  const { seed, steps: jobSteps } = trySettings(job);
  const idx = job.series_idx ?? 0;
  const running = job.status === "running" || (job.status === "queued" && tile.live !== null);
  const status = running ? "running" : job.status;
  attr(li, "data-status", status);
  attr(li, "data-winner", tile.winner ? "true" : "false");
  attr(li, "data-job-id", job.id);
  attr(li, "data-seed", seed);
  attr(li, "aria-current", tile.winner ? "true" : null);
  li.classList.toggle("is-winner", tile.winner);
  show(li.querySelector<HTMLElement>(".winner-badge")!, tile.winner);

  const steps = tile.live?.steps ?? jobSteps;
  const step = job.status === "done" ? steps : Math.min(steps, Math.max(job.progress, tile.live?.step ?? 0));
  text(li.querySelector(".status")!, statusWords(tile, status, step, steps));
  attr(li.querySelector(".act-copy-seed")!, "title", `Copy seed ${seed} of try ${idx}`);
  attr(li, "data-queue-position", status === "queued" ? (tile.position?.place ?? null) : null);
  attr(li, "data-line-position", status === "queued" ? (tile.position?.placeInLine ?? null) : null);

  const bar = li.querySelector<HTMLElement>(".progress")!;
  show(bar, status === "running");
  attr(bar, "aria-valuemax", steps);
  attr(bar, "aria-valuenow", step);
  attr(bar, "aria-valuetext", `step ${step} of ${steps}`);
  bar.querySelector<HTMLElement>(".fill")!.style.width = `${steps > 0 ? (100 * step) / steps : 0}%`;

  li.querySelector<HTMLElement>(".media")!.style.aspectRatio = tile.aspect;
  const open = li.querySelector<HTMLButtonElement>(".open")!;
  const picture = open.querySelector("img")!;
  const hasPicture = job.status === "done" && tile.thumbnailUrl !== null;
  show(open, hasPicture);
  attr(picture, "src", tile.thumbnailUrl);
  attr(picture, "alt", `Try ${idx}${tile.winner ? " (winner)" : ""}: ${tile.prompt}`);
  attr(open, "aria-label", `Open try ${idx} full size`);
  const done = job.status === "done" && job.image_id !== null;
  for (const action of ["pick", "look", "compare", "vary", "upscale", "edit"]) {
    show(li.querySelector<HTMLElement>(`[data-testid="${action}-${idx}"]`)!, done);
  }
  // The winner's Pick button un-picks it.
  const pick = li.querySelector<HTMLButtonElement>(`[data-testid="pick-${idx}"]`)!;
  attr(pick, "aria-pressed", tile.winner ? "true" : "false");
  text(pick, tile.winner ? "★ Winner" : "☆ Pick");
  attr(pick, "aria-label", tile.winner ? `Winner: try ${idx} (press to un-pick)` : `Pick try ${idx} as the winner`);
  attr(pick, "title", tile.winner ? "The winner: press to un-pick" : `Pick try ${idx} as the winner`);
  pick.classList.toggle("primary", tile.winner);

  const preview = li.querySelector<HTMLImageElement>(".preview")!;
  const previewSrc = status === "running" && tile.live?.preview_jpeg ? `data:image/jpeg;base64,${tile.live.preview_jpeg}` : null;
  attr(preview, "src", previewSrc);
  attr(preview, "alt", `Preview of try ${idx} at step ${step} of ${steps}`);
  show(preview, previewSrc !== null);
  const placeholder = li.querySelector<HTMLElement>(".placeholder")!;
  show(placeholder, !hasPicture && previewSrc === null);
  text(placeholder.firstElementChild!, `#${idx} · ${PLACEHOLDER_WORDS[status] ?? status}`);

  const error = li.querySelector<HTMLElement>(".tile-error")!;
  text(error, job.error ?? "");
  show(error, job.status === "failed" && !!job.error);

  show(li.querySelector<HTMLElement>(`[data-testid="retry-${idx}"]`)!, job.status === "failed" || job.status === "cancelled");
  const cancel = li.querySelector<HTMLButtonElement>(`[data-testid="cancel-${idx}"]`)!;
  show(cancel, isUnfinished(job.status));
  cancel.disabled = job.cancel_requested;
  const download = li.querySelector<HTMLAnchorElement>(`[data-testid="download-${idx}"]`)!;
  attr(download, "href", tile.downloadUrl);
  show(download, job.status === "done" && tile.downloadUrl !== null);
}
