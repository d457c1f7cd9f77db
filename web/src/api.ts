// Every call the app makes to the database, typed by database.types.ts. Users reach imagen only
// through RLS: they read their own rows and act through the user RPCs. Reads use only the query
// forms eq / in / is / lt / ilike / order / limit (no embedding), which the project's PostgREST stand-in also speaks.
import type { PostgrestError } from "@supabase/supabase-js";
import type { ImagenClient } from "./client";
import type { Tables } from "./database.types";
import type { SeriesArgs } from "./rules";

export type Series = Tables<"series">;
export type Image = Pick<Tables<"images">, "id" | "job_id" | "series_id" | "bucket" | "path" | "created_at" | "prompt">;

// Name the columns: users may not select jobs.leased_by / claim_id, so `select *` on jobs fails.
const JOB_COLUMNS =
  "id,series_id,series_idx,status,progress,steps,seed,error,image_id,attempts,max_attempts,cancel_requested,queued_at,run_after,started_at,finished_at,updated_at";
const IMAGE_COLUMNS = "id,job_id,series_id,bucket,path,created_at,prompt";

export type Job = Pick<
  Tables<"jobs">,
  | "id"
  | "series_id"
  | "series_idx"
  | "status"
  | "progress"
  | "steps"
  | "seed"
  | "error"
  | "image_id"
  | "attempts"
  | "max_attempts"
  | "cancel_requested"
  | "queued_at"
  | "run_after"
  | "started_at"
  | "finished_at"
  | "updated_at"
>;

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

export type JobStatus = "queued" | "running" | "done" | "failed" | "cancelled";
export const UNFINISHED: readonly string[] = ["queued", "running"];

export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string | null,
    readonly details: string | null = null,
  ) {
    super(message);
  }
}

function fail(error: PostgrestError | { message: string; code?: string; details?: string | null }): never {
  throw new ApiError(error.message, error.code ?? null, error.details ?? null);
}

/** A variation series of this one (imagen.vary_image from one of its pictures). */
export type Child = Pick<Series, "id" | "parent_image_id" | "strength" | "count" | "created_at">;

export interface SeriesView {
  series: Series;
  jobs: Job[];
  images: Image[];
  /** The try this series varies (its parent picture's series and index), if it is a variation
   * whose parent still exists; and the variation series made from this one's pictures. */
  parent: { seriesId: string | null; idx: number | null } | null;
  children: Child[];
  /** job id → where a queued try stands, from imagen.queue_places (the claim's own order). */
  queuePosition: Map<string, QueuePlace>;
}

/** A queued try's place in the whole queue, in its owner's line, and its estimated start. */
export interface QueuePlace {
  place: number;
  placeInLine: number;
  /** ISO time, or null while no render has finished to estimate from. */
  expectedStart: string | null;
}

function seriesId(rpc: string, data: unknown): string {
  const id = (data as { id?: unknown } | null)?.id;
  if (typeof id !== "string") throw new ApiError(`${rpc} answered without a series id`, null);
  return id;
}

export function api(db: ImagenClient) {
  return {
    /** imagen.create_series → the new series' id. */
    async createSeries(args: SeriesArgs): Promise<string> {
      const { data, error } = await db.rpc("create_series", args);
      if (error) fail(error);
      return seriesId("create_series", data);
    },

    /** imagen.vary_image: n variations of one picture, `strength` percent of it anew → the new series' id. */
    async varyImage(imageId: string, n: number, strength: number): Promise<string> {
      const { data, error } = await db.rpc("vary_image", { image_id: imageId, n, strength });
      if (error) fail(error);
      return seriesId("vary_image", data);
    },

    /** The same request again with new seeds: a variation series varies its parent picture again. */
    async rerun(series: Series): Promise<string> {
      if (series.parent_image_id !== null && series.strength !== null) {
        return this.varyImage(series.parent_image_id, series.count, series.strength);
      }
      return this.createSeries({
        prompt: series.prompt,
        n: series.count,
        model: series.model,
        width: series.width,
        height: series.height,
        steps: series.steps,
        ...(series.style !== null ? { style: series.style } : {}),
      });
    },

    /** One series' row (the new-series form's "use these settings"), or null. */
    async readSeriesRow(id: string): Promise<Series | null> {
      const { data, error } = await db.from("series").select("*").eq("id", id).maybeSingle();
      if (error) fail(error);
      return data;
    },

    async readSeries(id: string): Promise<SeriesView | null> {
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
      const parentImage = series.data.parent_image_id;
      const imageIds = images.data.map((image) => image.id);
      const [parent, children] = await Promise.all([
        parentImage ? db.from("jobs").select("series_id,series_idx").eq("image_id", parentImage).maybeSingle() : null,
        imageIds.length > 0
          ? db.from("series").select("id,parent_image_id,strength,count,created_at").in("parent_image_id", imageIds).order("created_at")
          : null,
      ]);
      if (parent?.error) fail(parent.error);
      if (children?.error) fail(children.error);
      const queuePosition = new Map<string, QueuePlace>();
      for (const q of queued.data ?? []) {
        if (q.id && q.place !== null && q.place_in_line !== null) {
          queuePosition.set(q.id, { place: q.place, placeInLine: q.place_in_line, expectedStart: q.expected_start });
        }
      }
      return {
        series: series.data,
        jobs: jobs.data,
        images: images.data,
        queuePosition,
        parent: parent?.data ? { seriesId: parent.data.series_id, idx: parent.data.series_idx } : null,
        children: children?.data ?? [],
      };
    },

    /** A page of the gallery (RLS: only the user's own): up to `limit` series newest first,
     * older than `before` (keyset: created_at), whose prompt contains `search`, of every series,
     * the favourites or the unfinished ones; with their tries and pictures, and the solo pictures
     * (first page only). `more`: an older page exists. */
    async readGallery(query: GalleryQuery): Promise<Gallery> {
      let series = db.from("series").select("*").order("created_at", { ascending: false }).limit(query.limit + 1);
      if (query.before) series = series.lt("created_at", query.before);
      const pattern = query.search.trim() ? `%${query.search.trim().replace(/[\\%_]/g, (c) => `\\${c}`)}%` : null;
      if (pattern) series = series.ilike("prompt", pattern);
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
      if (pattern) solo = solo.ilike("prompt", pattern);
      const [jobs, images, solos] = await Promise.all([
        ids.length ? db.from("jobs").select("id,series_id,series_idx,status,image_id").in("series_id", ids) : null,
        ids.length ? db.from("images").select(IMAGE_COLUMNS).in("series_id", ids) : null,
        query.before === null && query.filter === "all" ? solo : null,
      ]);
      if (jobs?.error) fail(jobs.error);
      if (images?.error) fail(images.error);
      if (solos?.error) fail(solos.error);
      return { series: shown, jobs: jobs?.data ?? [], images: images?.data ?? [], solo: solos?.data ?? [], more: page.data.length > query.limit };
    },

    /** Marks or unmarks one of the user's series as a favourite (RLS: owners update their own). */
    async setFavourite(seriesId: string, favourite: boolean): Promise<void> {
      const { error } = await db.rpc("set_favourite", { series_id: seriesId, favourite });
      if (error) fail(error);
    },

    /** imagen.select_image; stopRest also stops the series' unfinished tries. */
    async selectImage(seriesId: string, imageId: string, stopRest: boolean): Promise<Series> {
      const { data, error } = await db.rpc("select_image", {
        series_id: seriesId,
        image_id: imageId,
        stop_rest: stopRest,
      });
      if (error) fail(error);
      return data;
    },

    /** imagen.cancel_series: queued tries cancelled, running ones flagged to stop. */
    async cancelSeries(seriesId: string): Promise<void> {
      const { error } = await db.rpc("cancel_series", { series_id: seriesId });
      if (error) fail(error);
    },

    /** imagen.cancel_job: one try. */
    async cancelJob(jobId: string): Promise<void> {
      const { error } = await db.rpc("cancel_job", { job_id: jobId });
      if (error) fail(error);
    },

    /** imagen.retry_job: a failed or cancelled try goes back to the queue. */
    async retryJob(jobId: string): Promise<void> {
      const { error } = await db.rpc("retry_job", { job_id: jobId });
      if (error) fail(error);
    },

    /** imagen.add_tries: n more tries, up to n's maximum in all. */
    async addTries(seriesId: string, n: number): Promise<void> {
      const { error } = await db.rpc("add_tries", { series_id: seriesId, n });
      if (error) fail(error);
    },

    /** DELETE on imagen.series (RLS: owners delete their own); tries and pictures go with it, and
     * the worker removes the stored files (imagen.objects_to_delete). */
    async deleteSeries(seriesId: string): Promise<void> {
      const { error } = await db.from("series").delete().eq("id", seriesId);
      if (error) fail(error);
    },
  };
}

export type Api = ReturnType<typeof api>;
