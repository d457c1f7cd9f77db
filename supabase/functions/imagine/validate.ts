// Checks a POST /imagine body before it reaches SQL, naming the first bad field.
// SQL (imagen.create_series) stays the authority on ranges; this catches shape and type.

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

type Kind = "string" | "integer";
const FIELDS: Record<keyof CreateSeriesArgs, { kind: Kind; required: boolean }> = {
  prompt: { kind: "string", required: true },
  n: { kind: "integer", required: true },
  model: { kind: "string", required: false },
  width: { kind: "integer", required: false },
  height: { kind: "integer", required: false },
  steps: { kind: "integer", required: false },
  seed: { kind: "integer", required: false },
  style: { kind: "string", required: false },
};

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
    const fits = rule.kind === "string" ? typeof value === "string" : Number.isInteger(value);
    if (!fits) return { ok: false, error: `${name}: must be ${rule.kind === "string" ? "a string" : "an integer"}` };
    args[name] = value;
  }
  return { ok: true, args: args as unknown as CreateSeriesArgs };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string | null): value is string {
  return value !== null && UUID.test(value);
}
