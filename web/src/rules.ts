// The database's rules for a new series, so the form can say what is wrong before a round trip:
// limits, defaults and words are generated from imagen.settings_rules() (settings_rules.ts, by
// scripts/gen-types, checked for staleness). The database stays the judge: its own 22023 message
// is shown next to the field it names (fieldOfMessage).
import { SETTINGS_RULES as RULES } from "./settings_rules";

export const LIMITS = {
  nMin: RULES.n.min_value,
  nMax: RULES.n.max_value,
  promptMaxChars: RULES.prompt.max_chars,
  styleMaxChars: RULES.style.max_chars,
  sizeMin: RULES.width.min_value,
  sizeMax: RULES.width.max_value,
  sizeMultiple: RULES.width.multiple_of,
  stepsMin: RULES.steps.min_value,
  stepsMax: RULES.steps.max_value,
  seedMax: RULES.seed.max_value,
  defaultN: Number(RULES.n.default_value),
  defaultSteps: Number(RULES.steps.default_value),
} as const;

/** "More like this": how much of the picture a variation renders anew (percent; the subtle one
 * is the database's default, the strong one its strong_value). */
export const STRENGTHS = [
  { label: "Subtle", value: Number(RULES.strength.default_value) },
  { label: "Strong", value: RULES.strength.strong_value },
] as const;

/** Aspect-ratio presets; every side within width's and height's rules (a test checks). */
export const SIZE_PRESETS = [
  { label: "1:1", width: 1024, height: 1024 },
  { label: "3:2", width: 1248, height: 832 },
  { label: "2:3", width: 832, height: 1248 },
  { label: "4:3", width: 1152, height: 864 },
  { label: "3:4", width: 864, height: 1152 },
  { label: "16:9", width: 1280, height: 720 },
  { label: "9:16", width: 720, height: 1280 },
] as const;

/** The form's fields; a database message is mapped to one of them by its first word. */
export type Field = "prompt" | "n" | "size" | "steps" | "seed" | "style";

export interface SeriesInput {
  prompt: string;
  n: string;
  size: string; // "WIDTHxHEIGHT"
  steps: string;
  seed: string;
  style: string;
}

export interface SeriesArgs {
  prompt: string;
  n: number;
  model?: string; // not on the form: a rerun keeps its series' model
  width: number;
  height: number;
  steps: number;
  seed?: number;
  style?: string;
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

/** Postgres writes a NULL argument as "null" in these messages. */
function shown(raw: string): string {
  return raw.trim() === "" ? "null" : raw.trim();
}

export function nProblem(raw: string): string | null {
  const n = integer(raw);
  if (n === null || n < LIMITS.nMin || n > LIMITS.nMax) {
    return `${RULES.n.rule}, got ${shown(raw)}`;
  }
  return null;
}

/** add_tries: n within n's rule, and the series may not grow past n's maximum (its grow_rule). */
export function addTriesProblem(raw: string, count: number): string | null {
  const problem = nProblem(raw);
  if (problem) return problem;
  return count + integer(raw)! > LIMITS.nMax ? RULES.n.grow_rule.replace("%s", String(count)) : null;
}

function sideProblem(name: "width" | "height", value: number): string | null {
  if (
    !Number.isInteger(value) || value < LIMITS.sizeMin || value > LIMITS.sizeMax ||
    value % LIMITS.sizeMultiple !== 0
  ) {
    return `${RULES[name].rule}, got ${value}`;
  }
  return null;
}

export function parseSize(size: string): { width: number; height: number } {
  const [w, h] = size.split("x").map((part) => Number(part));
  return { width: w ?? NaN, height: h ?? NaN };
}

/** Every problem of the form at once (the database names only the first), in its wording. */
export function validateSeries(input: SeriesInput): { problems: Problems; args: SeriesArgs | null } {
  const problems: Problems = {};
  const n = nProblem(input.n);
  if (n) problems.n = n;

  if (!/\S/u.test(input.prompt)) problems.prompt = RULES.prompt.empty_rule;
  else if (chars(input.prompt) > LIMITS.promptMaxChars) {
    problems.prompt = `${RULES.prompt.rule}, got ${chars(input.prompt)}`;
  }

  const { width, height } = parseSize(input.size);
  const sizeProblem = sideProblem("width", width) ?? sideProblem("height", height);
  if (sizeProblem) problems.size = sizeProblem;

  const steps = integer(input.steps);
  if (steps === null || steps < LIMITS.stepsMin || steps > LIMITS.stepsMax) {
    problems.steps = `${RULES.steps.rule}, got ${shown(input.steps)}`;
  }

  const style = input.style.trim();
  if (chars(style) > LIMITS.styleMaxChars) {
    problems.style = RULES.style.rule;
  }

  let seed: number | undefined;
  if (input.seed.trim() !== "") {
    const value = integer(input.seed);
    if (value === null || value < RULES.seed.min_value || value > LIMITS.seedMax) {
      problems.seed = `${RULES.seed.rule}, got ${input.seed.trim()}`;
    } else {
      seed = value;
    }
  }

  if (Object.keys(problems).length > 0) return { problems, args: null };
  const args: SeriesArgs = { prompt: input.prompt, n: integer(input.n)!, width, height, steps: steps! };
  if (seed !== undefined) args.seed = seed;
  if (style !== "") args.style = style;
  return { problems, args };
}

const FIELD_OF_WORD: Record<string, Field> = {
  prompt: "prompt",
  n: "n",
  width: "size",
  height: "size",
  steps: "steps",
  seed: "seed",
  style: "style",
};

/** The form field a database message names ("seed must be ..." → seed), or null (form-wide). */
export function fieldOfMessage(message: string): Field | null {
  const word = /^[a-z_]+/.exec(message)?.[0];
  return word !== undefined ? (FIELD_OF_WORD[word] ?? null) : null;
}

/** What the form calls each word a message starts with (the database says "n", the form "Tries"). */
const LABEL_OF_WORD: Record<string, string> = {
  prompt: "Prompt",
  n: "Tries",
  width: "Width",
  height: "Height",
  steps: "Steps",
  seed: "Seed",
  style: "Style",
};

/** A rule's message in the form's words: "n must be between 1 and 10" → "Tries must be ...". */
export function inFieldWords(message: string): string {
  return message.replace(/^[a-z_]+/, (word) => LABEL_OF_WORD[word] ?? word);
}
