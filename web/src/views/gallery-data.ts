// The gallery's reads and its one action: a page of series with their tries' states and covers,
// the solo pictures, and marking a favourite. RLS shows each user only their own.
import { fail, type Image, IMAGE_COLUMNS, type Job, type Series, UNFINISHED } from "../api";
import type { ImagenClient } from "../client";
import { PICTURE_PROMPT_FILTER, SERIES_PROMPT_FILTER } from "../settings";

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
  solo: Image[];
  more: boolean;
}

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
    const open = await db.from("jobs").select("series_id").in("status", [...UNFINISHED]).limit(1000);
    if (open.error) fail(open.error);
    const ids = [...new Set(open.data.flatMap((job) => (job.series_id ? [job.series_id] : [])))];
    if (ids.length === 0) return { series: [], jobs: [], images: [], solo: [], more: false };
    series = series.in("id", ids);
  }
  const page = await series;
  if (page.error) fail(page.error);
  const shown = page.data.slice(0, query.limit);
  const ids = shown.map((s) => s.id);
  let solo = db.from("images").select(IMAGE_COLUMNS).is("series_id", null).order("created_at", { ascending: false }).limit(200);
  if (pattern) solo = solo.ilike(PICTURE_PROMPT_FILTER, pattern);
  const [jobs, images, solos] = await Promise.all([
    ids.length ? db.from("jobs").select("id,series_id,series_idx,status,image_id").in("series_id", ids) : null,
    ids.length ? db.from("images").select(IMAGE_COLUMNS).in("series_id", ids) : null,
    query.before === null && query.filter === "all" ? solo : null,
  ]);
  if (jobs?.error) fail(jobs.error);
  if (images?.error) fail(images.error);
  if (solos?.error) fail(solos.error);
  return { series: shown, jobs: jobs?.data ?? [], images: images?.data ?? [], solo: solos?.data ?? [], more: page.data.length > query.limit };
}

/** Marks or unmarks one of the user's series as a favourite (RLS: owners update their own). */
export async function setFavourite(db: ImagenClient, seriesId: string, favourite: boolean): Promise<void> {
  const { error } = await db.rpc("set_favourite", { series_id: seriesId, favourite });
  if (error) fail(error);
}
