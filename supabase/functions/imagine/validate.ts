// Checks a POST /imagine body before it reaches SQL, naming the first bad field.
// SQL (imagen.create_series) stays the authority on ranges and defaults; this catches shape,
// type, numbers its parameters cannot even hold (n = 1e12 is a JSON integer, but no Postgres
// integer), and text Postgres cannot store (NUL) or that is not Unicode (a lone surrogate such as
// "\ud800"). The fields are the published settings (imagen.settings_rules, generated into
// ../_shared/settings_rules.ts), so a setting added there is taken here without a change.
// With from_image_id the series is made from that picture (imagen.create_from_image), of `kind`
// (vary by default; upscale, edit: imagen.try_kinds): its settings are the picture's, so only n,
// seed, a new prompt and the kind's own settings (strength; factor, refine; mask_path) go with it.
import { SETTINGS_RULES, type SettingsRule, TRY_KINDS } from "../_shared/settings_rules.ts";

type Setting = keyof typeof SETTINGS_RULES;
export type CreateSeriesArgs = Partial<Record<Setting, string | number>> & { from_image_id?: string; kind?: string };

type Kind = "string" | "integer" | "bigint" | "decimal";
// The SQL parameter types' ranges: integer (int4), and bigint as far as JSON numbers are exact.
const LIMITS: Record<Exclude<Kind, "string" | "decimal">, [number, number]> = {
  integer: [-2147483648, 2147483647],
  bigint: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

/** A setting's JSON type, read from its rule's kind (an integer is bigint where its range passes
 * int4's). */
function kindOf(rule: SettingsRule): Kind {
  if (rule.kind === "text" || rule.kind === "choice" || rule.kind === "picture") return "string";
  if (rule.kind === "decimal") return "decimal";
  return rule.max_value !== null && rule.max_value > LIMITS.integer[1] ? "bigint" : "integer";
}

// What a caller may give: every published field but those the database derives (a source's path).
const GIVEN = Object.entries(SETTINGS_RULES).filter(([, rule]) => rule.part !== "derived") as [string, SettingsRule][];
const FIELDS: Record<string, Kind> = {
  from_image_id: "string",
  kind: "string",
  ...Object.fromEntries(GIVEN.map(([field, rule]) => [field, kindOf(rule)])),
};
/** Whether a field belongs to a try of this kind of work (a rule's kinds; null: every kind). */
const belongsTo = (field: string, kind: string): boolean => {
  const kinds = (SETTINGS_RULES as Record<string, SettingsRule>)[field]?.kinds ?? null;
  return kinds === null || kinds.includes(kind);
};

// A number not written as an integer (3.0, 1e1, 2.5): JSON.parse makes 3 of "3.0", so the text
// is kept to tell them apart. An integer field wants what a person would write for one.
class NotIntegerText {
  constructor(readonly source: string) {}
}
const INTEGER_TEXT = /^-?(0|[1-9][0-9]*)$/;

function parse(text: string): unknown {
  // The reviver's third argument (the value's source text) is in Deno 2; without it, numbers
  // fall back to Number.isInteger below.
  return JSON.parse(text, (_key, value, context?: { source?: string }) => {
    const source = context?.source;
    return typeof value === "number" && source !== undefined && !INTEGER_TEXT.test(source)
      ? new NotIntegerText(source)
      : value;
  });
}

function problem(kind: Kind, value: unknown): string | null {
  if (kind === "string") {
    if (typeof value !== "string") return "must be a string";
    if (value.includes("\u0000")) return "must not contain NUL (\\u0000)";
    if (!value.isWellFormed()) return "must be valid Unicode (it has a lone surrogate)";
    return null;
  }
  if (kind === "decimal") {
    const n = value instanceof NotIntegerText ? Number(value.source) : value;
    return typeof n === "number" && Number.isFinite(n) ? null : "must be a number";
  }
  if (value instanceof NotIntegerText) {
    return `must be an integer, written without a fraction or exponent, got ${value.source}`;
  }
  if (!Number.isInteger(value)) return "must be an integer";
  const [low, high] = LIMITS[kind];
  const n = value as number;
  return n < low || n > high ? `must be an integer from ${low} to ${high}, got ${n}` : null;
}

export type Checked = { ok: true; args: CreateSeriesArgs } | { ok: false; error: string };

/** A POST body as received (text): JSON, then checked. */
export function checkCreateSeriesText(text: string): Checked {
  let body: unknown;
  try {
    body = parse(text);
  } catch {
    return { ok: false, error: "body must be valid JSON" };
  }
  return checkCreateSeries(body);
}

export function checkCreateSeries(body: unknown): Checked {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { ok: false, error: "body must be a JSON object" };
  }
  const input = body as Record<string, unknown>;
  for (const key of Object.keys(input)) {
    // Own properties only: `key in FIELDS` also finds constructor, toString, __proto__...
    if (!Object.hasOwn(FIELDS, key)) return { ok: false, error: `${key}: unknown field` };
  }
  const args: Record<string, unknown> = {};
  for (const [name, kind] of Object.entries(FIELDS)) {
    const value = input[name];
    if (value === undefined || value === null) continue;
    const bad = problem(kind, value);
    if (bad) return { ok: false, error: `${name}: ${bad}` };
    args[name] = value instanceof NotIntegerText ? Number(value.source) : value;
  }
  const given = Object.keys(args).filter((name) => !["from_image_id", "kind", "n"].includes(name));
  if (args.from_image_id === undefined) {
    if (args.kind !== undefined) {
      return { ok: false, error: "kind: only with from_image_id (a new picture is generate)" };
    }
    if (args.prompt === undefined) return { ok: false, error: "prompt: required" };
    const other = given.find((name) => !belongsTo(name, "generate"));
    if (other) {
      return { ok: false, error: `${other}: only with from_image_id (a variation's, an upscale's, an edit's)` };
    }
  } else {
    const kind = (args.kind ?? "vary") as string;
    const fromPicture = Object.entries(TRY_KINDS).filter(([, k]) => k.needs_source).map(([name]) => name);
    if (!fromPicture.includes(kind)) return { ok: false, error: `kind: must be one of ${fromPicture.join(", ")}` };
    args.kind = kind;
    const own = given.find((name) =>
      name !== "seed" && name !== "prompt" && (belongsTo(name, "generate") || !belongsTo(name, kind))
    );
    if (own) return { ok: false, error: `${own}: not with from_image_id and kind ${kind} (it keeps its picture's)` };
  }
  return { ok: true, args: args as unknown as CreateSeriesArgs };
}
