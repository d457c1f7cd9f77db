// Checks a POST /imagine body before it reaches SQL, naming the first bad field.
// SQL (imagen.create_series) stays the authority on ranges; this catches shape, type, and numbers
// its parameters cannot even hold (n = 1e12 is a JSON integer, but no Postgres integer).

export interface CreateSeriesArgs {
  prompt: string;
  n: number;
  model?: string;
  width?: number;
  height?: number;
  steps?: number;
  seed?: number;
  style?: string;
}

type Kind = "string" | "integer" | "bigint";
const FIELDS: Record<keyof CreateSeriesArgs, { kind: Kind; required: boolean }> = {
  prompt: { kind: "string", required: true },
  n: { kind: "integer", required: true },
  model: { kind: "string", required: false },
  width: { kind: "integer", required: false },
  height: { kind: "integer", required: false },
  steps: { kind: "integer", required: false },
  seed: { kind: "bigint", required: false },
  style: { kind: "string", required: false },
};
// The SQL parameter types' ranges: integer (int4), and bigint as far as JSON numbers are exact.
const LIMITS: Record<Exclude<Kind, "string">, [number, number]> = {
  integer: [-2147483648, 2147483647],
  bigint: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

function problem(kind: Kind, value: unknown): string | null {
  if (kind === "string") return typeof value === "string" ? null : "must be a string";
  if (!Number.isInteger(value)) return "must be an integer";
  const [low, high] = LIMITS[kind];
  const n = value as number;
  return n < low || n > high ? `must be an integer from ${low} to ${high}, got ${n}` : null;
}

export type Checked = { ok: true; args: CreateSeriesArgs } | { ok: false; error: string };

export function checkCreateSeries(body: unknown): Checked {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { ok: false, error: "body must be a JSON object" };
  }
  const input = body as Record<string, unknown>;
  for (const key of Object.keys(input)) {
    if (!(key in FIELDS)) return { ok: false, error: `${key}: unknown field` };
  }
  const args: Record<string, unknown> = {};
  for (const [name, rule] of Object.entries(FIELDS)) {
    const value = input[name];
    if (value === undefined || value === null) {
      if (rule.required) return { ok: false, error: `${name}: required` };
      continue;
    }
    const bad = problem(rule.kind, value);
    if (bad) return { ok: false, error: `${name}: ${bad}` };
    args[name] = value;
  }
  return { ok: true, args: args as unknown as CreateSeriesArgs };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string | null): value is string {
  return value !== null && UUID.test(value);
}
