// The gallery's reads and its one action: a page of series with their tries' states and covers,
// the solo pictures, and marking a favourite. RLS shows each user only their own.
import { readAll, readAllByIds } from "../all-rows";
import { fail, type Image, IMAGE_COLUMNS, type Job, type Series } from "../api";
import type { ImagenClient } from "../client";
import { type ChildRow, PICTURE_TRY_COLUMNS, SERIES_PROMPT_FILTER, TRY_PROMPT_FILTER, withPrompts } from "../settings";
import { byCreated, readChildren, readReruns, type RerunRow } from "./lineage-data";
import { UNFINISHED_STATUSES } from "../settings_rules";

/** A picture outside any series, with its try's prompt, seed and size. */
export type SoloPicture = Image & { prompt: string; seed: number; width: number; height: number };

/** How many solo pictures the gallery shows (the newest). */
const SOLO_LIMIT = 200;

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

/** The try whose picture a series is made from: its series and index. */
export type ParentTry = Pick<Job, "series_id" | "series_idx" | "image_id">;

/** A page of the gallery (RLS: only the user's own): up to `limit` series newest first,
 * older than `before` (keyset: created_at), whose prompt contains `search`, of every series,
 * the favourites or the unfinished ones; with their tries and pictures, and the solo pictures
 * (first page only). `more`: an older page exists. */
export async function readGallery(db: ImagenClient, query: GalleryQuery): Promise<Gallery> {
  const pattern = query.search.trim() ? `%${query.search.trim().replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null;
  let only: string[] | null = null;
  if (query.filter === "unfinished") {
    // The series of the user's unfinished tries (as many as their cap allows: past db-max-rows for some).
    const open = await readAll((from, to) => db.from("jobs").select("id,series_id", { count: "exact" }).in("status", [...UNFINISHED_STATUSES]).order("id").range(from, to));
    only = [...new Set(open.flatMap((job) => (job.series_id ? [job.series_id] : [])))];
    if (only.length === 0) return { series: [], jobs: [], images: [], solo: [], more: false, parents: [], children: [], reruns: [] };
  }
  const wanted = query.limit + 1; // one more than shown: is there an older page?
  const pageOf = (ids: string[] | null) => (from: number, to: number) => {
    let series = db.from("series").select("*").order("created_at", { ascending: false }).order("id");
    if (query.before) series = series.lt("created_at", query.before);
    if (pattern) series = series.ilike(SERIES_PROMPT_FILTER, pattern);
    if (query.filter === "favourites") series = series.eq("favourite", true);
    if (ids) series = series.in("id", ids);
    return series.range(from, to);
  };
  // The unfinished filter's ids a hundred at a time: each chunk's newest, then the newest of them.
  const page = only ? byCreated(await readAllByIds(only, (chunk, from, to) => pageOf(chunk)(from, to), wanted), "newest").slice(0, wanted) : await readAll(pageOf(null), wanted);
  const shown = page.slice(0, query.limit);
  const ids = shown.map((s) => s.id);
  // Up to 10 tries and pictures a series: past db-max-rows from a hundred series shown.
  const [jobs, images, solo] = await Promise.all([
    readAllByIds(ids, (chunk, from, to) => db.from("jobs").select("id,series_id,series_idx,status,image_id", { count: "exact" }).in("series_id", chunk).order("id").range(from, to)),
    readAllByIds(ids, (chunk, from, to) => db.from("images").select(IMAGE_COLUMNS, { count: "exact" }).in("series_id", chunk).order("id").range(from, to)),
    query.before === null && query.filter === "all" ? readSolo(db, pattern) : [],
  ]);
  const { parents, children, reruns } = await readLineage(db, shown, images);
  return { series: shown, jobs, images, solo, more: page.length > query.limit, parents, children, reruns };
}

/** The tries the series are made from, the series made from their pictures, and their reruns. A
 * picture may be varied, a series rerun, any number of times: those reads are read whole. */
async function readLineage(db: ImagenClient, series: Series[], images: Image[]): Promise<{ parents: ParentTry[]; children: ChildRow[]; reruns: RerunRow[] }> {
  const parentIds = [...new Set(series.flatMap((s) => (s.parent_image_id ? [s.parent_image_id] : [])))];
  const imageIds = images.map((image) => image.id);
  const seriesIds = series.map((s) => s.id);
  const [reruns, parents, children] = await Promise.all([
    readReruns(db, seriesIds),
    // One try a picture: at most one row a series shown.
    readAllByIds(parentIds, (chunk, from, to) => db.from("jobs").select("id,series_id,series_idx,image_id", { count: "exact" }).in("image_id", chunk).order("id").range(from, to)),
    readChildren(db, imageIds),
  ]);
  return { reruns, parents, children };
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
  const pictures = await readAllByIds(imageIds, (chunk, from, to) => db.from("images").select(IMAGE_COLUMNS, { count: "exact" }).in("id", chunk).order("id").range(from, to));
  return withPrompts(byCreated(pictures, "newest"), done.data);
}

/** Marks or unmarks one of the user's series as a favourite (RLS: owners update their own). */
export async function setFavourite(db: ImagenClient, seriesId: string, favourite: boolean): Promise<void> {
  const { error } = await db.rpc("set_favourite", { series_id: seriesId, favourite });
  if (error) fail(error);
}
