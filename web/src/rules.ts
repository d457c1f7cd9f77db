// The database's rules for a new series, so the form can say what is wrong before a round trip:
// limits, defaults, labels and words are generated from imagen.settings_rules() (settings_rules.ts,
// by scripts/gen-types, checked for staleness), and so is the list of settings the form offers.
// The database stays the judge: its own 22023 message is shown next to the field it names
// (fieldOfMessage).
import type { SettingValue } from "./settings";
import { type SettingsRule, SETTINGS_RULES } from "./settings_rules";

const RULES: Record<string, SettingsRule> = SETTINGS_RULES;

export const LIMITS = {
  nMin: SETTINGS_RULES.n.min_value,
  nMax: SETTINGS_RULES.n.max_value,
  promptMaxChars: SETTINGS_RULES.prompt.max_chars,
  defaultN: Number(SETTINGS_RULES.n.default_value),
} as const;

/** "More like this": how much of the picture a variation renders anew (percent; the subtle one
 * is the database's default, the strong one its strong_value). */
export const STRENGTHS = [
  { label: "Subtle", value: Number(SETTINGS_RULES.strength.default_value) },
  { label: "Strong", value: SETTINGS_RULES.strength.strong_value },
] as const;

/** The upscale factors the rules allow for a picture of this size: factor's range, where the
 * result stays within width's and height's rules (a 512² picture: 2, 3, 4; a 1024²: 2). */
export function upscaleFactors(width: number, height: number): number[] {
  const { min_value: min, max_value: max, step } = SETTINGS_RULES.factor;
  const fits = (side: number, rule: SettingsRule) => side <= rule.max_value! && (rule.multiple_of === null || side % rule.multiple_of === 0);
  return range(min, max, step).filter((factor) => fits(width * factor, SETTINGS_RULES.width) && fits(height * factor, SETTINGS_RULES.height));
}

/** From min to max by step (a rule's choices). */
export function range(min: number, max: number, step: number): number[] {
  return Array.from({ length: Math.floor((max - min) / step) + 1 }, (_, i) => min + i * step);
}

/** Aspect-ratio presets; every side within width's and height's rules (a test checks). The
 * worker compiles its model for these sizes ahead of time (IMAGEN_SIZES' default). */
export const SIZE_PRESETS = [
  { label: "1:1", width: 1024, height: 1024 },
  { label: "3:2", width: 1248, height: 832 },
  { label: "2:3", width: 832, height: 1248 },
  { label: "4:3", width: 1152, height: 864 },
  { label: "3:4", width: 864, height: 1152 },
  { label: "16:9", width: 1280, height: 720 },
  { label: "9:16", width: 720, height: 1280 },
] as const;

/** The two fields every request has, which the form lays out itself (a textarea, the count). */
const OWN_FIELDS = ["prompt", "n"];

/** The settings a request of this kind of work takes from a form, in display order: those the
 * rules mark `form` whose kinds include it (null: every kind). */
export function formSettings(kind = "generate"): [string, SettingsRule][] {
  return Object.entries(RULES)
    .filter(([field, rule]) => rule.form && !OWN_FIELDS.includes(field) && (rule.kinds === null || rule.kinds.includes(kind)))
    .sort(([, a], [, b]) => a.position - b.position);
}

/** A form field: "prompt", "n" or a setting's name. */
export type Field = string;

/** What was typed, field by field (every text as typed; a setting missing is left to its default). */
export type SeriesInput = Record<Field, string>;

export interface SeriesArgs {
  prompt: string;
  n: number;
  /** The settings given; those left out take their defaults. */
  settings: Record<string, SettingValue>;
}

export type Problems = Partial<Record<Field, string>>;

/** Postgres counts characters (code points), not UTF-16 units. */
export function chars(text: string): number {
  return [...text].length;
}

/** An integer typed into a field, or null if it is not one. */
function integer(raw: string): number | null {
  const text = raw.trim();
  if (!/^-?\d+$/.test(text)) return null;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : null;
}

/** A decimal typed into a field ("3.5", "-2", ".5"), or null if it is not one. */
function decimal(raw: string): number | null {
  const text = raw.trim();
  if (!/^-?(\d+\.?\d*|\.\d+)$/.test(text)) return null;
  const value = Number(text);
  return Number.isFinite(value) ? value : null;
}

/** Postgres writes a NULL argument as "null" in these messages. */
function shown(raw: string): string {
  return raw.trim() === "" ? "null" : raw.trim();
}

export function nProblem(raw: string): string | null {
  const n = integer(raw);
  if (n === null || n < LIMITS.nMin || n > LIMITS.nMax) {
    return `${SETTINGS_RULES.n.rule}, got ${shown(raw)}`;
  }
  return null;
}

/** add_tries: n within n's rule, and the series may not grow past n's maximum (its grow_rule). */
export function addTriesProblem(raw: string, count: number): string | null {
  const problem = nProblem(raw);
  if (problem) return problem;
  return count + integer(raw)! > LIMITS.nMax ? SETTINGS_RULES.n.grow_rule.replace("%s", String(count)) : null;
}

function withinLimits(rule: SettingsRule, value: number): boolean {
  if (rule.min_value !== null && value < rule.min_value) return false;
  if (rule.max_value !== null && value > rule.max_value) return false;
  return rule.multiple_of === null || value % rule.multiple_of === 0;
}

/** One setting as typed, checked against its rule: its value (undefined: left out, so the
 * database's default), or the problem in the database's words. */
export function readSetting(rule: SettingsRule, raw: string): { value?: SettingValue; problem?: string } {
  const text = raw.trim();
  if (text === "") {
    // A setting with a default is filled in with it; one cleared is refused, as the database does.
    return rule.default_value === null ? {} : { problem: `${rule.rule}, got null` };
  }
  switch (rule.kind) {
    case "integer":
    case "decimal": {
      const value = rule.kind === "integer" ? integer(text) : decimal(text);
      return value !== null && withinLimits(rule, value) ? { value } : { problem: `${rule.rule}, got ${text}` };
    }
    case "choice":
      return rule.choices === null || rule.choices.includes(text) ? { value: text } : { problem: `${rule.rule}, got ${text}` };
    default:
      return rule.max_chars !== null && chars(text) > rule.max_chars ? { problem: `${rule.rule}, got ${chars(text)}` } : { value: text };
  }
}

/** Every problem of the form at once (the database names only the first), in its wording. */
export function validateSeries(input: SeriesInput): { problems: Problems; args: SeriesArgs | null } {
  const problems: Problems = {};
  const prompt = input.prompt ?? "";
  if (!/\S/u.test(prompt)) problems.prompt = SETTINGS_RULES.prompt.empty_rule;
  else if (chars(prompt) > LIMITS.promptMaxChars) {
    problems.prompt = `${SETTINGS_RULES.prompt.rule}, got ${chars(prompt)}`;
  }
  const n = nProblem(input.n ?? "");
  if (n) problems.n = n;

  const settings: Record<string, SettingValue> = {};
  for (const [field, rule] of formSettings()) {
    const raw = input[field];
    if (raw === undefined) continue; // not asked: the database's default
    const { value, problem } = readSetting(rule, raw);
    if (problem !== undefined) problems[field] = problem;
    else if (value !== undefined) settings[field] = value;
  }
  if (Object.keys(problems).length > 0) return { problems, args: null };
  return { problems, args: { prompt, n: integer(input.n!)!, settings } };
}

/** The form as typed, unchecked (the client checks switched off, so the database's own messages
 * show): numbers as numbers where they parse, a cleared number as null, blank texts left out. */
export function uncheckedSeries(input: SeriesInput): SeriesArgs {
  const number = (raw: string) => (raw.trim() === "" ? null : Number(raw));
  const settings: Record<string, SettingValue> = {};
  for (const [field, rule] of formSettings()) {
    const raw = input[field] ?? "";
    if (rule.kind === "integer" || rule.kind === "decimal") {
      if (raw.trim() !== "" || rule.default_value !== null) settings[field] = number(raw);
    } else if (raw.trim() !== "") settings[field] = raw.trim();
  }
  return { prompt: input.prompt ?? "", n: number(input.n ?? "") ?? NaN, settings };
}

/** The form field a database message names ("seed must be ..." → seed), or null (form-wide). */
export function fieldOfMessage(message: string): Field | null {
  const word = /^[a-z_]+/.exec(message)?.[0];
  return word !== undefined && word in RULES ? word : null;
}

/** What the form calls a setting (its rule's label: the database says "n", the form "Tries"). */
export function labelOf(field: Field): string {
  return RULES[field]?.label ?? field;
}

/** A rule's message in the form's words: "n must be between 1 and 10" → "Tries must be ...". */
export function inFieldWords(message: string): string {
  return message.replace(/^[a-z_]+/, (word) => (word in RULES ? labelOf(word) : word));
}
