// The gallery's reads and its one action: a page of series with their tries' states and covers,
// the solo pictures, and marking a favourite. RLS shows each user only their own.
import { fail, type Image, IMAGE_COLUMNS, type Job, type Series } from "../api";
import type { ImagenClient } from "../client";
import { CHILD_SERIES_COLUMNS, type ChildRow, PICTURE_TRY_COLUMNS, SERIES_PROMPT_FILTER, SOURCE_IMAGE_FILTER, TRY_PROMPT_FILTER, withPrompts } from "../settings";
import { UNFINISHED_STATUSES } from "../settings_rules";

/** A picture outside any series, with its try's prompt, seed and size. */
export type SoloPicture = Image & { prompt: string; seed: number; width: number; height: number };

/** How many solo pictures the gallery shows (the newest). */
const SOLO_LIMIT = 200;
const ID_CHUNK = 100;

export type GalleryFilter = "all" | "favourites" | "unfinished";

export interface GalleryQuery {
  search: string;
  filter: GalleryFilter;
  /** created_at of the last series shown: the page after it. */
  before: string | null;
  limit: number;
}

export interface Gallery {
  series: Series[];
  jobs: Pick<Job, "id" | "series_id" | "series_idx" | "status" | "image_id">[];
  images: Image[];
  solo: SoloPicture[];
  more: boolean;
  /** The tries the shown series are made from (a variation's, an upscale's, an edit's picture),
   * and the series made from the shown series' pictures: lineage, both ways. */
  parents: ParentTry[];
  children: ChildRow[];
  /** The reruns of the shown series (imagen.rerun_series): the other way of series.rerun_of. */
  reruns: RerunRow[];
}

/** A series that reruns another: its id and the one it asks again. */
export type RerunRow = Pick<Series, "id" | "rerun_of" | "created_at">;

/** The try whose picture a series is made from: its series and index. */
export type ParentTry = Pick<Job, "series_id" | "series_idx" | "image_id">;

/** A page of the gallery (RLS: only the user's own): up to `limit` series newest first,
 * older than `before` (keyset: created_at), whose prompt contains `search`, of every series,
 * the favourites or the unfinished ones; with their tries and pictures, and the solo pictures
 * (first page only). `more`: an older page exists. */
export async function readGallery(db: ImagenClient, query: GalleryQuery): Promise<Gallery> {
  let series = db.from("series").select("*").order("created_at", { ascending: false }).limit(query.limit + 1);
  if (query.before) series = series.lt("created_at", query.before);
  const pattern = query.search.trim() ? `%${query.search.trim().replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null;
  if (pattern) series = series.ilike(SERIES_PROMPT_FILTER, pattern);
  if (query.filter === "favourites") series = series.eq("favourite", true);
  if (query.filter === "unfinished") {
    // At most the cap's number of unfinished tries: a short list of series ids.
    const open = await db.from("jobs").select("series_id").in("status", [...UNFINISHED_STATUSES]).limit(1000);
    if (open.error) fail(open.error);
    const ids = [...new Set(open.data.flatMap((job) => (job.series_id ? [job.series_id] : [])))];
    if (ids.length === 0) return { series: [], jobs: [], images: [], solo: [], more: false, parents: [], children: [], reruns: [] };
    series = series.in("id", ids);
  }
  const page = await series;
  if (page.error) fail(page.error);
  const shown = page.data.slice(0, query.limit);
  const ids = shown.map((s) => s.id);
  const [jobs, images, solo] = await Promise.all([
    ids.length ? db.from("jobs").select("id,series_id,series_idx,status,image_id").in("series_id", ids) : null,
    ids.length ? db.from("images").select(IMAGE_COLUMNS).in("series_id", ids) : null,
    query.before === null && query.filter === "all" ? readSolo(db, pattern) : [],
  ]);
  if (jobs?.error) fail(jobs.error);
  if (images?.error) fail(images.error);
  const { parents, children, reruns } = await readLineage(db, shown, images?.data ?? []);
  return { series: shown, jobs: jobs?.data ?? [], images: images?.data ?? [], solo, more: page.data.length > query.limit, parents, children, reruns };
}

/** The tries the series are made from, the series made from their pictures, and their reruns. */
async function readLineage(db: ImagenClient, series: Series[], images: Image[]): Promise<{ parents: ParentTry[]; children: ChildRow[]; reruns: RerunRow[] }> {
  const parentIds = [...new Set(series.flatMap((s) => (s.parent_image_id ? [s.parent_image_id] : [])))];
  const imageIds = images.map((image) => image.id);
  // A page's pictures are up to 24 × 10 ids: asked for a hundred at a time, so no URL grows long.
  const chunks = Array.from({ length: Math.ceil(imageIds.length / ID_CHUNK) }, (_, i) => imageIds.slice(i * ID_CHUNK, (i + 1) * ID_CHUNK));
  const seriesIds = series.map((s) => s.id);
  const [reruns, parents, ...children] = await Promise.all([
    seriesIds.length ? db.from("series").select("id,rerun_of,created_at").in("rerun_of", seriesIds).order("created_at") : null,
    parentIds.length ? db.from("jobs").select("series_id,series_idx,image_id").in("image_id", parentIds) : null,
    ...chunks.map((chunk) => db.from("series").select(CHILD_SERIES_COLUMNS).in(SOURCE_IMAGE_FILTER, chunk).order("created_at")),
  ]);
  if (parents?.error) fail(parents.error);
  if (reruns?.error) fail(reruns.error);
  return {
    reruns: reruns?.data ?? [],
    parents: parents?.data ?? [],
    children: children.flatMap((read) => {
      if (read!.error) fail(read!.error);
      return read!.data;
    }),
  };
}

/** The newest solo pictures whose prompt matches `pattern` (ilike; null: all), newest first. A
 * picture's prompt is its try's: the solo tries that finished are read first (filtered and
 * limited there), then their pictures. */
async function readSolo(db: ImagenClient, pattern: string | null): Promise<SoloPicture[]> {
  let tries = db.from("jobs").select(PICTURE_TRY_COLUMNS).is("series_id", null).eq("status", "done");
  if (pattern) tries = tries.ilike(TRY_PROMPT_FILTER, pattern);
  const done = await tries.order("finished_at", { ascending: false }).limit(SOLO_LIMIT);
  if (done.error) fail(done.error);
  const imageIds = done.data.flatMap((row) => (row.image_id ? [row.image_id] : []));
  if (imageIds.length === 0) return [];
  const pictures = await db.from("images").select(IMAGE_COLUMNS).in("id", imageIds).order("created_at", { ascending: false });
  if (pictures.error) fail(pictures.error);
  return withPrompts(pictures.data, done.data);
}

/** Marks or unmarks one of the user's series as a favourite (RLS: owners update their own). */
export async function setFavourite(db: ImagenClient, seriesId: string, favourite: boolean): Promise<void> {
  const { error } = await db.rpc("set_favourite", { series_id: seriesId, favourite });
  if (error) fail(error);
}
