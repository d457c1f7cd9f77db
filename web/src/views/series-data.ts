// The series page's reads: the series with its tries and pictures, where its queued tries stand,
// its lineage (the try it varies, the variation series of its pictures), and its pictures' signed
// URLs. Reads use only the query forms the project's PostgREST stand-in also speaks (api.ts).
import { fail, type Image, IMAGE_COLUMNS, type Job, JOB_COLUMNS, type Series } from "../api";
import type { ImagenClient } from "../client";
import { type Pictures, withThumbnails } from "../pictures";
import { type ChildRow, seriesSettings } from "../settings";
import { readChildren, readReruns } from "./lineage-data";

/** A variation series of this one (imagen.vary_image from one of its pictures). */
export type Child = ChildRow;

export interface SeriesView {
  series: Series;
  jobs: Job[];
  images: Image[];
  /** The try this series varies (its parent picture's series and index), if it is a variation
   * whose parent still exists; and the variation series made from this one's pictures. */
  parent: { seriesId: string | null; idx: number | null } | null;
  children: Child[];
  /** The series' reruns (imagen.rerun_series), oldest first; the one it reruns is series.rerun_of. */
  reruns: Pick<Series, "id" | "created_at">[];
  /** job id → where a queued try stands, from imagen.queue_places (the claim's own order). */
  queuePosition: Map<string, QueuePlace>;
}

/** A queued try's place in the whole queue, in its owner's line, and its estimated start. */
export interface QueuePlace {
  place: number;
  placeInLine: number;
  /** ISO time, or null while no render has finished to estimate from. */
  expectedStart: string | null;
  /** The estimate's relative error (0.1: a tenth either way), or null where it is unknown. */
  error: number | null;
}

/** One series as the page shows it, or null if there is no such series (or it is not the user's). */
export async function readSeries(db: ImagenClient, id: string): Promise<SeriesView | null> {
  const series = await db.from("series").select("*").eq("id", id).maybeSingle();
  if (series.error) fail(series.error);
  if (!series.data) return null;
  const [jobs, images, queued] = await Promise.all([
    db.from("jobs").select(JOB_COLUMNS).eq("series_id", id).order("series_idx"),
    db.from("images").select(IMAGE_COLUMNS).eq("series_id", id),
    // Places counted by the database (imagen.queue): other users' tries take turns with these.
    db.rpc("queue_places"),
  ]);
  if (jobs.error) fail(jobs.error);
  if (images.error) fail(images.error);
  if (queued.error) fail(queued.error);
  const parentImage = seriesSettings(series.data).source_image_id;
  const imageIds = images.data.map((image) => image.id);
  // Its tries and pictures are 10 at most; the series made from them, and its reruns, have no bound.
  const [parent, children, reruns] = await Promise.all([
    parentImage ? db.from("jobs").select("series_id,series_idx").eq("image_id", parentImage).maybeSingle() : null,
    readChildren(db, imageIds),
    readReruns(db, [id]),
  ]);
  if (parent?.error) fail(parent.error);
  const queuePosition = new Map<string, QueuePlace>();
  for (const q of queued.data ?? []) {
    if (q.id && q.place !== null && q.place_in_line !== null) {
      queuePosition.set(q.id, { place: q.place, placeInLine: q.place_in_line, expectedStart: q.expected_start, error: q.expected_start_error });
    }
  }
  return {
    series: series.data,
    jobs: jobs.data,
    images: images.data,
    queuePosition,
    parent: parent?.data ? { seriesId: parent.data.series_id, idx: parent.data.series_idx } : null,
    children,
    reruns,
  };
}

/** The name a try's picture downloads as. */
export function downloadName(seriesId: string, idx: number): string {
  return `imagen-${seriesId.slice(0, 8)}-${idx}.png`;
}

/** Signs the URLs of the series' finished pictures into `urls` (picture and thumbnail, by path)
 * and `downloads` (by the picture's path). */
export async function signPictures(
  pictures: Pictures,
  view: SeriesView,
  seriesId: string,
  urls: Map<string, string>,
  downloads: Map<string, string>,
): Promise<void> {
  const done = view.images.filter((image) => view.jobs.some((job) => job.image_id === image.id));
  for (const [path, url] of await pictures.viewUrls(withThumbnails(done))) urls.set(path, url);
  await Promise.all(
    done.map(async (image) => {
      const idx = view.jobs.find((job) => job.id === image.job_id)?.series_idx ?? 0;
      downloads.set(image.path, await pictures.downloadUrl(image.bucket, image.path, downloadName(seriesId, idx)));
    }),
  );
}
