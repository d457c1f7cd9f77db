// Every read of a series', a try's or a picture's settings, and every query that names one, goes
// through here. A series and each of its tries keep their settings in one `settings` jsonb value
// with the `kind` of work beside it (supabase/schemas/20_tables.sql); a picture has none of its
// own and reads its try's (images.job_id → jobs.settings): the gallery reads a solo picture's try
// first and joins the two here, since the project's PostgREST stand-in embeds no resources.
// Queries name a setting by PostgREST's JSON path (`settings->>prompt`), which it also speaks.
import type { Json, Tables } from "./database.types";
import { SETTINGS_RULES as RULES, type SettingsRule, TRY_KINDS, type TryKind } from "./settings_rules";

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

/** A settings value as read: its numbers and texts by field (the database checked their types). */
function settingsOf(value: Json): Record<string, SettingValue> {
  const fields: Record<string, SettingValue> = {};
  if (value === null || typeof value !== "object" || Array.isArray(value)) return fields;
  for (const [field, setting] of Object.entries(value)) {
    if (typeof setting === "string" || typeof setting === "number") fields[field] = setting;
  }
  return fields;
}

const textOf = (value: SettingValue | undefined): string | null => (typeof value === "string" ? value : null);
const numberOf = (value: SettingValue | undefined): number | null => (typeof value === "number" ? value : null);

type SeriesRow = Pick<Tables<"series">, "settings" | "parent_image_id">;

export function seriesSettings(row: SeriesRow): SeriesSettings {
  const fields = settingsOf(row.settings);
  return {
    ...fields,
    prompt: textOf(fields.prompt) ?? "",
    model: textOf(fields.model) ?? "",
    width: numberOf(fields.width) ?? NaN,
    height: numberOf(fields.height) ?? NaN,
    steps: numberOf(fields.steps) ?? NaN,
    style: textOf(fields.style),
    seed: numberOf(fields.seed),
    strength: numberOf(fields.strength),
    source_image_id: row.parent_image_id,
  };
}

/** Whether a series' kind of work is made from a picture of the user's (a variation). */
export function hasSource(row: Pick<Tables<"series">, "kind">): boolean {
  return (TRY_KINDS as Record<string, TryKind>)[row.kind]?.needs_source ?? false;
}

/** A series' prompt. */
export function promptOf(row: Pick<Tables<"series">, "settings">): string {
  return textOf(settingsOf(row.settings).prompt) ?? "";
}

/** What the series page reads of each try: its settings (its own seed; its steps, the progress bar's end). */
export const TRY_SETTINGS_COLUMNS = "settings";
export type TrySettingsRow = Pick<Tables<"jobs">, "settings">;

/** A try's seed and steps: the database gives every try both (jobs_take_their_settings). */
export function trySettings(row: TrySettingsRow): { seed: number; steps: number } {
  const fields = settingsOf(row.settings);
  return { seed: numberOf(fields.seed) ?? NaN, steps: numberOf(fields.steps) ?? NaN };
}

/** The columns a search by prompt filters on (PostgREST's JSON path): a series', and a try's,
 * for its picture. */
export const SERIES_PROMPT_FILTER = "settings->>prompt";
export const TRY_PROMPT_FILTER = "settings->>prompt";

/** What the gallery reads of a solo picture's try: its picture and its prompt. */
export const PICTURE_TRY_COLUMNS = "id,image_id,prompt:settings->>prompt,seed:settings->>seed,width:settings->>width,height:settings->>height";
export interface PictureTry {
  id: string;
  image_id: string | null;
  prompt: string;
  seed: string | null;
  width: string | null;
  height: string | null;
}

/** The pictures with their tries' prompts, seeds and sizes, in the pictures' order (one whose try
 * is not among `tries` is left out). */
export function withPrompts<P extends { job_id: string }>(pictures: P[], tries: PictureTry[]): (P & { prompt: string; seed: number; width: number; height: number })[] {
  const tryOf = new Map(tries.map((row) => [row.id, row]));
  return pictures.flatMap((picture) => {
    const row = tryOf.get(picture.job_id);
    return row === undefined ? [] : [{ ...picture, prompt: row.prompt, seed: Number(row.seed), width: Number(row.width), height: Number(row.height) }];
  });
}

/** The series columns a series made from a picture (a variation, an upscale, an edit) is found
 * by (its source picture) and listed with. */
export const SOURCE_IMAGE_FILTER = "parent_image_id";
export const CHILD_SERIES_COLUMNS = "id,kind,parent_image_id,count,created_at";
export type ChildRow = Pick<Tables<"series">, "id" | "kind" | "parent_image_id" | "count" | "created_at">;

/** What a kind of work is called ("Upscale", "Edited region"; the rules' words). */
export function kindLabel(kind: string): string {
  return (TRY_KINDS as Record<string, TryKind>)[kind]?.label ?? kind;
}

/** A series-from-a-picture's source picture, from a row of CHILD_SERIES_COLUMNS. */
export function sourceImageOf(row: Pick<Tables<"series">, "parent_image_id">): string | null {
  return row.parent_image_id;
}

/** Whether a field is a setting a generate series takes (the prompt and n are arguments of their own). */
function isGenerateSetting(field: string, rule: SettingsRule): boolean {
  return rule.part === "settings" && field !== "prompt" && (rule.kinds === null || rule.kinds.includes("generate"));
}

/** imagen.create_series's arguments for a prompt, n tries and the settings chosen (those left out
 * take their defaults; one given as null is refused by the database in its own words). */
export function createSeriesArgs(prompt: string, n: number, settings: Record<string, SettingValue>) {
  const chosen: Record<string, SettingValue> = {};
  for (const [field, rule] of Object.entries(RULES) as [string, SettingsRule][]) {
    if (isGenerateSetting(field, rule) && settings[field] !== undefined) chosen[field] = settings[field];
  }
  return { prompt, n, settings: chosen };
}

/** The series' settings in a line, in the rules' words and units: "1024 × 1024 px · 4 steps ·
 * seed 7 · style: ink", a variation's "variations at 35 % strength", an upscale's "factor 2 × ·
 * refine 25 %". */
export function settingsLine(settings: SeriesSettings): string {
  const name = (field: keyof typeof RULES) => RULES[field].label.toLowerCase();
  const measured = (value: number, field: keyof typeof RULES) => {
    const unit = (RULES[field] as SettingsRule).unit;
    return unit === null ? String(value) : `${value} ${unit}`;
  };
  const parts = [`${settings.width} × ${measured(settings.height, "height")}`, `${settings.steps} ${name("steps")}`];
  parts.push(settings.seed !== null ? `${name("seed")} ${settings.seed}` : "random seeds");
  if (settings.style) parts.push(`${name("style")}: ${settings.style}`);
  if (settings.strength !== null) parts.push(`variations at ${measured(settings.strength, "strength")} ${name("strength")}`);
  for (const field of ["factor", "refine"] as const) {
    const value = settings[field];
    if (typeof value === "number") parts.push(`${name(field)} ${measured(value, field)}`);
  }
  return parts.join(" · ");
}
