// POST /imagine starts a series; GET /imagine?series_id= reads it back with signed URLs.
// The store comes in as a parameter (built from the caller's token), so the handler is tested
// without a network. Cheap refusals come first: a request that is refused is never read.
import { json, preflight } from "../_shared/cors.ts";
import { readText, refuseBeforeReading } from "./body.ts";
import { callerOf, isUuid } from "./caller.ts";
import type { DbError, ImagenStore } from "./store.ts";
import { checkCreateSeriesText } from "./validate.ts";

export type StoreFor = (token: string) => ImagenStore;

const SIGNED_URL_SECONDS = 3600;

// SQLSTATEs of bad input: invalid parameter value, a raise, a number or text that does not fit,
// text Postgres cannot hold (NUL: 22P05; not in the encoding: 22021).
const BAD_INPUT = new Set(["22023", "P0001", "22003", "22P02", "22001", "22P05", "22021"]);

// The cap on a user's unfinished tries (the trigger imagen.jobs_enforce_unfinished_cap). PostgREST
// answers it 429 itself (PTnnn is HTTP status nnn); how long to wait is ours to say: a try takes
// seconds, so a slot is usually free again well within this.
export const TOO_MANY_UNFINISHED = "PT429";
export const RETRY_AFTER_SECONDS = 10;
// The caps' refusal of who the caller is: an anonymous user whose cap is 0 (imagen.limits), told to sign up.
export const NOT_FOR_YOU = "PT403";

function dbFailure(error: DbError): Response {
  // Same statuses PostgREST gives: bad input 400, no or bad identity 401.
  if (error.code && BAD_INPUT.has(error.code)) return json(400, { error: error.message });
  if (error.code === TOO_MANY_UNFINISHED) {
    return json(429, { error: error.message, hint: error.hint ?? null }, {
      "Retry-After": String(RETRY_AFTER_SECONDS),
    });
  }
  // Refused for who the caller is (an anonymous user with no GPU time: sign up), as PostgREST answers PT403.
  if (error.code === NOT_FOR_YOU) return json(403, { error: error.message, hint: error.hint ?? null });
  if (error.code === "42501" || error.code?.startsWith("PGRST30")) return json(401, { error: error.message });
  // The owner's foreign key: a well-signed token of a user who was deleted (or never existed).
  // (A read by such a token finds nothing: RLS shows no rows, 404.)
  if (error.code === "23503") return json(401, { error: "the token's user does not exist" });
  // Anything else is ours, not the caller's: its text (table names, constraints) stays in the log.
  console.error("imagine: unexpected database error", error.code, error.message);
  return json(502, { error: "database error" });
}

async function create(req: Request, store: ImagenStore): Promise<Response> {
  const body = await readText(req);
  if (!body.ok) return json(body.status, { error: body.error });
  const checked = checkCreateSeriesText(body.text);
  if (!checked.ok) return json(400, { error: checked.error });
  const { data, error } = await store.createSeries(checked.args);
  if (error) return dbFailure(error);
  // job_ids: the same ids under their old name, kept for one release.
  return json(201, { series_id: data.id, try_ids: data.try_ids, job_ids: data.try_ids });
}

async function read(url: URL, store: ImagenStore): Promise<Response> {
  const id = url.searchParams.get("series_id");
  if (!isUuid(id)) return json(400, { error: "series_id: must be a UUID" });
  const { data, error } = await store.readSeries(id);
  if (error) return dbFailure(error);
  if (data === null) return json(404, { error: `series ${id} not found` });
  const pathOf = new Map(data.images.map((image) => [image.job_id, image.path]));
  const signed = await store.signUrls([...pathOf.values()], SIGNED_URL_SECONDS);
  if (signed.error) return dbFailure(signed.error);
  const placeOf = new Map(data.places.map((p) => [p.id, p]));
  const tries = data.tries.map((t) => ({
    index: t.series_idx,
    try_id: t.id,
    job_id: t.id, // its old name, kept for one release
    status: t.status,
    progress: t.progress,
    steps: t.settings.steps,
    seed: t.settings.seed,
    settings: t.settings,
    error: t.error,
    image_url: signed.data[pathOf.get(t.id) ?? ""] ?? null,
    // Counted by the database (imagen.queue), as the web app and `imagen status` show them.
    place: placeOf.get(t.id)?.place ?? null,
    place_in_line: placeOf.get(t.id)?.place_in_line ?? null,
    expected_start: placeOf.get(t.id)?.expected_start ?? null,
  }));
  return json(200, { series: data.series, tries });
}

export function createHandler(storeFor: StoreFor): (req: Request) => Promise<Response> {
  return async (req) => {
    if (req.method === "OPTIONS") return preflight();
    if (req.method !== "GET" && req.method !== "POST") {
      return json(405, { error: `method ${req.method} not allowed` }, { Allow: "GET, POST, OPTIONS" });
    }
    const caller = callerOf(req.headers.get("Authorization"));
    if (!caller.ok) return json(401, { error: caller.error }, { "WWW-Authenticate": "Bearer" });
    if (req.method === "POST") {
      const refused = refuseBeforeReading(req);
      if (refused) return json(refused.status, { error: refused.error });
    }
    const store = storeFor(caller.token);
    return req.method === "POST" ? await create(req, store) : await read(new URL(req.url), store);
  };
}
