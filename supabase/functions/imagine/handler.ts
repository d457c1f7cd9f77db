// POST /imagine starts a series; GET /imagine?series_id= reads it back with signed URLs.
// The store comes in as a parameter (built from the caller's Authorization header), so the
// handler is tested without a network.
import { json, preflight } from "../_shared/cors.ts";
import type { DbError, ImagenStore } from "./store.ts";
import { checkCreateSeries, isUuid } from "./validate.ts";

export type StoreFor = (authorization: string) => ImagenStore;

const SIGNED_URL_SECONDS = 3600;

// SQLSTATEs of bad input: invalid parameter value, a raise, a number or text that does not fit.
const BAD_INPUT = new Set(["22023", "P0001", "22003", "22P02", "22001"]);

function dbFailure(error: DbError): Response {
  // Same statuses PostgREST gives: bad input 400, no or bad identity 401.
  if (error.code && BAD_INPUT.has(error.code)) return json(400, { error: error.message });
  if (error.code === "42501" || error.code?.startsWith("PGRST30")) return json(401, { error: error.message });
  // Anything else is ours, not the caller's: its text (table names, constraints) stays in the log.
  console.error("imagine: unexpected database error", error.code, error.message);
  return json(502, { error: "database error" });
}

async function create(req: Request, store: ImagenStore): Promise<Response> {
  let body: unknown;
  try {
    body = await req.json();
  } catch {
    return json(400, { error: "body must be valid JSON" });
  }
  const checked = checkCreateSeries(body);
  if (!checked.ok) return json(400, { error: checked.error });
  const { data, error } = await store.createSeries(checked.args);
  if (error) return dbFailure(error);
  return json(201, { series_id: data.id, job_ids: data.job_ids });
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
  const tries = data.tries.map((t) => ({
    index: t.series_idx,
    job_id: t.id,
    status: t.status,
    progress: t.progress,
    steps: t.steps,
    seed: t.seed,
    error: t.error,
    image_url: signed.data[pathOf.get(t.id) ?? ""] ?? null,
  }));
  return json(200, { series: data.series, tries });
}

export function createHandler(storeFor: StoreFor): (req: Request) => Promise<Response> {
  return async (req) => {
    if (req.method === "OPTIONS") return preflight();
    if (req.method !== "GET" && req.method !== "POST") {
      return json(405, { error: `method ${req.method} not allowed` }, { Allow: "GET, POST, OPTIONS" });
    }
    const authorization = req.headers.get("Authorization") ?? "";
    if (!/^Bearer \S+$/.test(authorization)) {
      return json(401, { error: "Authorization: Bearer <user JWT> required" });
    }
    const store = storeFor(authorization);
    return req.method === "POST" ? await create(req, store) : await read(new URL(req.url), store);
  };
}
