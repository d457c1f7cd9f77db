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

export function createTile(tile: Tile, seriesId: string, actions: TileActions): HTMLLIElement {
  const idx = tile.job.series_idx ?? 0;
  const button = (testid: string, label: string, words: string, action: (idx: number) => void) => {
    const el = h("button", { type: "button", "data-testid": `${testid}-${idx}`, "aria-label": label }, words);
    el.addEventListener("click", () => action(idx));
    return el;
  };
  const picture = h("img", { class: "picture", alt: "", loading: "lazy", "data-testid": `picture-${idx}` });
  const open = h("button", { type: "button", class: "open", "data-testid": `open-${idx}` }, picture);
  open.addEventListener("click", () => actions.open(idx));
  const pick = button("pick", `Pick try ${idx} as the winner`, "Pick", actions.pick);
  attr(pick, "aria-pressed", "false");
  attr(pick, "aria-describedby", "pick-hint");
  attr(pick, "aria-keyshortcuts", pickKeyFor(idx));
  const preview = h("img", { class: "preview", alt: `Preview of try ${idx}`, "data-testid": `preview-${idx}` });
  const placeholder = h("div", { class: "placeholder", "aria-hidden": "true" }, `#${idx}`);
  const bar = h(
    "div",
    { class: "progress", role: "progressbar", "aria-label": `Try ${idx} progress`, "aria-valuemin": 0, "data-testid": `progress-${idx}` },
    h("div", { class: "fill" }),
  );
  const download = h(
    "a",
    { class: "button", "data-testid": `download-${idx}`, "aria-label": `Download try ${idx}`, download: downloadName(seriesId, idx) },
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
    h(
      "div",
      { class: "actions" },
      pick,
      button("vary", `More like this: try ${idx}`, "More like this", (i) => actions.openTo(i, "vary")),
      button("upscale", `Upscale try ${idx}`, "Upscale", (i) => actions.openTo(i, "upscale")),
      button("edit", `Edit a region of try ${idx}`, "Edit a region", (i) => actions.openTo(i, "edit")),
      button("retry", `Retry try ${idx}`, "Retry", actions.retry),
      button("cancel", `Cancel try ${idx}`, "Cancel", actions.cancel),
      button("copy-seed", `Copy seed of try ${idx}`, "Copy seed", actions.copySeed),
      download,
    ),
  );
}

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
  text(li.querySelector(".status")!, `${statusWords(tile, status, step, steps)} · seed ${seed}`);
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
  const pick = li.querySelector<HTMLButtonElement>(`[data-testid="pick-${idx}"]`)!;
  show(pick, job.status === "done");
  for (const action of ["vary", "upscale", "edit"]) {
    show(li.querySelector<HTMLElement>(`[data-testid="${action}-${idx}"]`)!, job.status === "done" && job.image_id !== null);
  }
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
  show(cancel, isUnfinished(job.status));
  cancel.disabled = job.cancel_requested;
  const download = li.querySelector<HTMLAnchorElement>(`[data-testid="download-${idx}"]`)!;
  attr(download, "href", tile.downloadUrl);
  show(download, job.status === "done" && tile.downloadUrl !== null);
}
