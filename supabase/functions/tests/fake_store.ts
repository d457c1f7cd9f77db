// The handler's test double and request helpers: a store without a network, and tokens shaped
// as Supabase signs them.
import { createHandler } from "../imagine/handler.ts";
import type { ImagenStore, SeriesView } from "../imagine/store.ts";
import type { CreateSeriesArgs } from "../imagine/validate.ts";

export const SERIES_ID = "0b3c9b0e-6a4b-4e52-9a53-5d2b1b8f0a11";
export const JOB_IDS = ["11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"];

// A token shaped as Supabase signs them (the handler reads the claims; PostgREST checks the
// signature).
export function token(claims: Record<string, unknown>): string {
  const part = (value: unknown) =>
    btoa(JSON.stringify(value)).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
  return `${part({ alg: "HS256", typ: "JWT" })}.${part(claims)}.c2lnbmF0dXJl`;
}
export const USER_ID = "5d1f6c1e-8a43-4f0e-9b43-0c1e0e7a2b10";
export const USER_TOKEN = token({ sub: USER_ID, role: "authenticated", aud: "authenticated" });

export class FakeStore implements ImagenStore {
  created: CreateSeriesArgs[] = [];
  constructor(private failWith: { code?: string; message: string; hint?: string } | null = null) {}

  createSeries(args: CreateSeriesArgs) {
    this.created.push(args);
    if (this.failWith) return Promise.resolve({ data: null, error: this.failWith });
    return Promise.resolve({ data: { id: SERIES_ID, try_ids: JOB_IDS }, error: null });
  }

  readSeries(id: string) {
    if (this.failWith) return Promise.resolve({ data: null, error: this.failWith });
    if (id !== SERIES_ID) return Promise.resolve({ data: null, error: null });
    const view: SeriesView = {
      series: { id: SERIES_ID, settings: { prompt: "a heron" }, count: 2 },
      tries: [
        {
          id: JOB_IDS[0],
          series_idx: 1,
          status: "done",
          progress: 4,
          error: null,
          image_id: "i1",
          settings: { seed: 7, steps: 4 },
        },
        {
          id: JOB_IDS[1],
          series_idx: 2,
          status: "running",
          progress: 2,
          error: null,
          image_id: null,
          settings: { seed: 8, steps: 4 },
        },
      ],
      images: [{ id: "i1", job_id: JOB_IDS[0], path: `owner/${SERIES_ID}/${JOB_IDS[0]}.png` }],
      places: [{ id: JOB_IDS[1], place: null, place_in_line: null, expected_start: "2026-01-01T00:00:00+00:00" }],
    };
    return Promise.resolve({ data: view, error: null });
  }

  signUrls(paths: string[], seconds: number) {
    return Promise.resolve({
      data: Object.fromEntries(paths.map((p) => [p, `https://signed.example/${p}?ttl=${seconds}`])),
      error: null,
    });
  }
}

export function call(store: FakeStore, init: RequestInit & { url?: string } = {}) {
  const headers = new Headers(init.headers);
  if (!headers.has("Authorization")) headers.set("Authorization", `Bearer ${USER_TOKEN}`);
  if (init.method === "POST" && !headers.has("Content-Type")) headers.set("Content-Type", "application/json");
  const handler = createHandler(() => store);
  return handler(new Request(init.url ?? "http://localhost/imagine", { ...init, headers }));
}

export function post(store: FakeStore, body: unknown, headers: Record<string, string> = {}) {
  const payload = typeof body === "string" ? body : JSON.stringify(body);
  return call(store, { method: "POST", body: payload, headers });
}
