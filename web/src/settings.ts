// Every read of a series', a try's or a picture's settings, and every query that names one, goes
// through here. Today they are columns of their own (series.prompt, width, base_seed, ...; a
// picture's prompt on images); the next schema keeps them in one `settings` jsonb value with a
// `kind` beside it (a picture reads its try's: images.job_id → jobs.settings, embedded as
// `jobs!images_job_id_fkey(settings)` since images and jobs are joined by two foreign keys).
// Switching is this file alone (and the PostgREST stand-in learning that embedding, since today
// the app's reads use no embedding: api.ts).
import type { Tables } from "./database.types";
import { SETTINGS_RULES as RULES } from "./settings_rules";

/** A setting's value as the rules know it: integers and decimals as numbers, the rest as text. */
export type SettingValue = string | number | null;

/** What a series asks for: the settings every kind of work has, and whatever else its rules add. */
export interface SeriesSettings {
  prompt: string;
  model: string;
  width: number;
  height: number;
  steps: number;
  style: string | null;
  /** The first try's seed (try i renders with seed + i − 1), or null: random seeds. */
  seed: number | null;
  /** Variations only: how much of the source picture is rendered anew, in percent. */
  strength: number | null;
  /** Variations only: the picture varied (null once it is deleted). */
  source_image_id: string | null;
  [field: string]: SettingValue;
}

/** The kind of work a series (and each of its tries) is. */
export type WorkKind = "generate" | "vary";

type SeriesRow = Pick<
  Tables<"series">,
  "prompt" | "model" | "width" | "height" | "steps" | "style" | "base_seed" | "strength" | "parent_image_id"
>;

export function seriesSettings(row: SeriesRow): SeriesSettings {
  return {
    prompt: row.prompt,
    model: row.model,
    width: row.width,
    height: row.height,
    steps: row.steps,
    style: row.style,
    seed: row.base_seed,
    strength: row.strength,
    source_image_id: row.parent_image_id,
  };
}

export function kindOf(row: Pick<Tables<"series">, "strength">): WorkKind {
  return row.strength !== null ? "vary" : "generate";
}

/** A series' or a picture's prompt. */
export function promptOf(row: Pick<SeriesRow, "prompt"> | PictureSettingsRow): string {
  return row.prompt;
}

/** What the series page reads of each try: its own seed, and its steps (the progress bar's end). */
export const TRY_SETTINGS_COLUMNS = "steps,seed";
export type TrySettingsRow = Pick<Tables<"jobs">, "steps" | "seed">;

export function trySettings(row: TrySettingsRow): { seed: number; steps: number } {
  return { seed: row.seed, steps: row.steps };
}

/** What a picture's row carries of its settings (the gallery shows a solo picture's prompt). */
export const PICTURE_SETTINGS_COLUMNS = "prompt";
export type PictureSettingsRow = Pick<Tables<"images">, "prompt">;

/** The column a search by prompt filters on (PostgREST's filter syntax), in series and in
 * pictures (later their try's: an embedded filter). */
export const SERIES_PROMPT_FILTER = "prompt";
export const PICTURE_PROMPT_FILTER = "prompt";

/** The series columns a variation series is found by (its source picture) and listed with. */
export const SOURCE_IMAGE_FILTER = "parent_image_id";
export const CHILD_SERIES_COLUMNS = "id,parent_image_id,strength,count,created_at";
export type ChildRow = Pick<Tables<"series">, "id" | "parent_image_id" | "strength" | "count" | "created_at">;

/** A variation series' source picture, from a row of CHILD_SERIES_COLUMNS. */
export function sourceImageOf(row: Pick<Tables<"series">, "parent_image_id">): string | null {
  return row.parent_image_id;
}

/** imagen.create_series's arguments for a prompt, n tries and the settings chosen (those left out
 * take their defaults). Today the RPC has a parameter per setting; a setting it has none for yet
 * (one the rules added ahead of the schema) is not sent. */
export function createSeriesArgs(prompt: string, n: number, settings: Record<string, SettingValue>) {
  const args: Record<string, SettingValue> = { prompt, n };
  for (const field of ["model", "width", "height", "steps", "style", "seed"]) {
    if (settings[field] !== undefined) args[field] = settings[field]; // null too: the database says what it makes of it
  }
  return args as { prompt: string; n: number };
}

/** The settings a rerun sends again: every one a new (generate) series takes, but the seed. */
export function rerunSettings(settings: SeriesSettings): Record<string, SettingValue> {
  const kept: Record<string, SettingValue> = {};
  for (const [field, rule] of Object.entries(RULES)) {
    const forGenerate = rule.kinds === null || (rule.kinds as readonly string[]).includes("generate");
    if (forGenerate && field !== "seed" && field !== "prompt" && field !== "n" && settings[field] != null) {
      kept[field] = settings[field];
    }
  }
  return kept;
}
