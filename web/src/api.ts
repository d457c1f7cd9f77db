// The rows the app reads, typed by database.types.ts, and the calls more than one screen makes
// (starting a series: the form, a rerun, a variation); each screen's own reads and actions sit
// next to it (views/gallery-data.ts, views/series-data.ts, views/series-actions.ts). Users reach
// imagen only through RLS: they read their own rows and act through the user RPCs. Reads use only
// the query forms eq / in / is / lt / ilike / order / limit / range with count and JSON paths (no
// embedding), which the project's PostgREST stand-in also speaks; a read that can pass
// db-max-rows goes through all-rows.ts.
import type { PostgrestError } from "@supabase/supabase-js";
import type { ImagenClient } from "./client";
import type { Tables } from "./database.types";
import type { SeriesArgs } from "./rules";
import { createSeriesArgs, type SettingValue, TRY_SETTINGS_COLUMNS, type TrySettingsRow } from "./settings";
import { UNFINISHED_STATUSES } from "./settings_rules";

export type Series = Tables<"series">;
export type Image = Pick<Tables<"images">, "id" | "job_id" | "series_id" | "bucket" | "path" | "created_at">;

// Name the columns: users may not select jobs.leased_by / claim_id, so `select *` on jobs fails.
export const JOB_COLUMNS = `id,series_id,series_idx,status,progress,${TRY_SETTINGS_COLUMNS},error,image_id,attempts,max_attempts,cancel_requested,queued_at,run_after,started_at,finished_at,updated_at`;
export const IMAGE_COLUMNS = "id,job_id,series_id,bucket,path,created_at";

export type Job = Pick<
  Tables<"jobs">,
  | "id"
  | "series_id"
  | "series_idx"
  | "status"
  | "progress"
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
> &
  TrySettingsRow;

/** Whether a try in this status is not finished yet (the database's rule, generated:
 * imagen_private.unfinished_statuses): it counts against the cap and screens follow it. */
export function isUnfinished(status: string): boolean {
  return (UNFINISHED_STATUSES as readonly string[]).includes(status);
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string | null,
    readonly details: string | null = null,
  ) {
    super(message);
  }
}

export function fail(error: PostgrestError | { message: string; code?: string; details?: string | null }): never {
  throw new ApiError(error.message, error.code ?? null, error.details ?? null);
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
      const { data, error } = await db.rpc("create_series", createSeriesArgs(args.prompt, args.n, args.settings));
      if (error) fail(error);
      return seriesId("create_series", data);
    },

    /** imagen.vary_image: n variations of one picture, `strength` percent of it anew → the new series' id. */
    async varyImage(imageId: string, n: number, strength: number): Promise<string> {
      const { data, error } = await db.rpc("vary_image", { image_id: imageId, n, strength });
      if (error) fail(error);
      return seriesId("vary_image", data);
    },

    /** imagen.create_from_image: a child series of `kind` (upscale, edit, vary) from one picture,
     * n tries (null: the kind's default), with the kind's settings → the new series' id. */
    async createFromImage(imageId: string, kind: string, n: number | null, settings: Record<string, SettingValue>): Promise<string> {
      const { data, error } = await db.rpc("create_from_image", { image_id: imageId, kind, n: n ?? undefined, settings });
      if (error) fail(error);
      return seriesId("create_from_image", data);
    },

    /** imagen.rerun_series: the same request again with new seeds, as a new series marked as
     * the rerun of this one (a series made from a picture is made from it again) → its id. */
    async rerun(series: Series): Promise<string> {
      const { data, error } = await db.rpc("rerun_series", { series_id: series.id });
      if (error) fail(error);
      return seriesId("rerun_series", data);
    },

    /** One series' row (the new-series form's "use these settings"), or null. */
    async readSeriesRow(id: string): Promise<Series | null> {
      const { data, error } = await db.from("series").select("*").eq("id", id).maybeSingle();
      if (error) fail(error);
      return data;
    },
  };
}

export type Api = ReturnType<typeof api>;
