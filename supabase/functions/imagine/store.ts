// What the handler needs from Supabase, implemented with supabase-js and the caller's token
// (RLS applies: the function never holds the service-role key).
import type { SupabaseClient } from "@supabase/supabase-js";
import type { CreateSeriesArgs } from "./validate.ts";

export interface DbError {
  code?: string;
  message: string;
  hint?: string | null;
}

export type Result<T> = { data: T; error: null } | { data: null; error: DbError };

export interface Try {
  id: string;
  series_idx: number;
  status: string;
  progress: number;
  error: string | null;
  image_id: string | null;
  /** The try's settings, one value (imagen.settings_rules): its seed and steps among them. */
  settings: { seed: number; steps: number } & Record<string, unknown>;
}

/** A queued try's place, as imagen.queue_places counts it (the order claims serve). */
export interface QueuePlace {
  id: string;
  place: number | null;
  place_in_line: number | null;
  expected_start: string | null;
}

export interface SeriesView {
  series: Record<string, unknown>;
  tries: Try[];
  images: { id: string; job_id: string; path: string }[];
  /** The caller's unfinished tries (of every series) with their places. */
  places: QueuePlace[];
}

export interface ImagenStore {
  createSeries(args: CreateSeriesArgs): Promise<Result<{ id: string; try_ids: string[] }>>;
  /** null data: no such series visible to the caller. */
  readSeries(id: string): Promise<Result<SeriesView | null>>;
  signUrls(paths: string[], seconds: number): Promise<Result<Record<string, string>>>;
}

function withoutPrompt(settings: Record<string, unknown>): Record<string, unknown> {
  const { prompt: _prompt, ...rest } = settings;
  return rest;
}

export function supabaseStore(client: SupabaseClient): ImagenStore {
  const db = client.schema("imagen");
  return {
    async createSeries(args) {
      // A new series: prompt and n, the rest as one settings value. Made from a picture (a
      // variation, an upscale, an edit): create_from_image with the kind's settings as one value.
      const { from_image_id, kind, n, ...settings } = args;
      const count = n === undefined ? {} : { n };
      const { data, error } = from_image_id === undefined
        ? await db.rpc("create_series", { prompt: settings.prompt, ...count, settings: withoutPrompt(settings) })
        : await db.rpc("create_from_image", { image_id: from_image_id, kind, ...count, settings });
      return error ? { data: null, error } : { data, error: null };
    },
    async readSeries(id) {
      const series = await db.from("series").select("*").eq("id", id).maybeSingle();
      if (series.error) return { data: null, error: series.error };
      if (series.data === null) return { data: null, error: null };
      const [tries, images, places] = await Promise.all([
        db.from("jobs").select("id,series_idx,status,progress,error,image_id,settings").eq("series_id", id)
          .order("series_idx"),
        db.from("images").select("id,job_id,path").eq("series_id", id),
        db.rpc("queue_places"),
      ]);
      const error = tries.error ?? images.error ?? places.error;
      if (error) return { data: null, error };
      return {
        data: {
          series: series.data,
          tries: tries.data ?? [],
          images: images.data ?? [],
          places: (places.data ?? []) as QueuePlace[],
        },
        error: null,
      };
    },
    async signUrls(paths, seconds) {
      if (paths.length === 0) return { data: {}, error: null };
      const { data, error } = await client.storage.from("imagen").createSignedUrls(paths, seconds);
      if (error) return { data: null, error: { message: error.message } };
      const urls: Record<string, string> = {};
      for (const item of data ?? []) {
        if (item.path && item.signedUrl) urls[item.path] = item.signedUrl;
      }
      return { data: urls, error: null };
    },
  };
}
