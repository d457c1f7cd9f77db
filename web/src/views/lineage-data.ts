// Lineage reads shared by the series page and the gallery: the series made from some pictures
// (variations, upscales, edits) and the reruns of some series. Either may be any number of rows,
// so both read every row (all-rows.ts), a hundred ids a request, oldest first.
import { readAllByIds } from "../all-rows";
import type { Series } from "../api";
import type { ImagenClient } from "../client";
import { CHILD_SERIES_COLUMNS, type ChildRow, SOURCE_IMAGE_FILTER } from "../settings";

/** A series that reruns another: its id and the one it asks again. */
export type RerunRow = Pick<Series, "id" | "rerun_of" | "created_at">;

/** Rows by created_at (oldest or newest first), then by id: the order each request reads them in,
 * kept across the requests a read of many ids makes. */
export function byCreated<Row extends { id: string; created_at: string }>(rows: Row[], first: "oldest" | "newest"): Row[] {
  const later = first === "oldest" ? 1 : -1;
  return [...rows].sort((a, b) => (a.created_at === b.created_at ? (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) : a.created_at < b.created_at ? -later : later));
}

/** The series made from any of these pictures. */
export async function readChildren(db: ImagenClient, imageIds: string[]): Promise<ChildRow[]> {
  return byCreated(await readAllByIds(imageIds, (chunk, from, to) => db.from("series").select(CHILD_SERIES_COLUMNS, { count: "exact" }).in(SOURCE_IMAGE_FILTER, chunk).order("created_at").order("id").range(from, to)), "oldest");
}

/** The reruns of any of these series (imagen.rerun_series). */
export async function readReruns(db: ImagenClient, seriesIds: string[]): Promise<RerunRow[]> {
  return byCreated(await readAllByIds(seriesIds, (chunk, from, to) => db.from("series").select("id,rerun_of,created_at", { count: "exact" }).in("rerun_of", chunk).order("created_at").order("id").range(from, to)), "oldest");
}
