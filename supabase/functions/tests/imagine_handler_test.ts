// Unit tests for the imagine handler: every status code, with a fake store (no network).
import assert from "node:assert/strict";
import { createHandler } from "../imagine/handler.ts";
import { call, FakeStore, JOB_IDS, post, SERIES_ID } from "./fake_store.ts";

Deno.test("POST creates a series and answers 201 with its id and job ids", async () => {
  const store = new FakeStore();
  const res = await post(store, { prompt: "a heron", n: 2, width: 512 });
  assert.equal(res.status, 201);
  assert.deepEqual(await res.json(), { series_id: SERIES_ID, try_ids: JOB_IDS, job_ids: JOB_IDS });
  assert.deepEqual(store.created, [{ prompt: "a heron", n: 2, width: 512 }]);
  assert.equal(res.headers.get("Access-Control-Allow-Origin"), "*");
});

Deno.test("a setting left out (n too) is left to the database's default", async () => {
  const store = new FakeStore();
  const res = await post(store, { prompt: "a heron" });
  assert.equal(res.status, 201);
  assert.deepEqual(store.created, [{ prompt: "a heron" }]);
});

Deno.test("POST with from_image_id starts a variation series of that picture", async () => {
  const store = new FakeStore();
  const res = await post(store, { from_image_id: "i1", n: 3, strength: 60 });
  assert.equal(res.status, 201);
  assert.deepEqual(store.created, [{ from_image_id: "i1", kind: "vary", n: 3, strength: 60 }]);
});

Deno.test("POST with from_image_id and a kind starts an upscale or an edit of that picture", async () => {
  const store = new FakeStore();
  assert.equal((await post(store, { from_image_id: "i1", kind: "upscale", factor: 2, refine: 30 })).status, 201);
  const edit = { from_image_id: "i1", kind: "edit", mask_path: "u/masks/m.png", prompt: "a red door", n: 2 };
  assert.equal((await post(store, edit)).status, 201);
  assert.deepEqual(store.created, [{ from_image_id: "i1", kind: "upscale", factor: 2, refine: 30 }, edit]);
});

Deno.test("malformed JSON is a 400", async () => {
  const res = await post(new FakeStore(), "{not json");
  assert.equal(res.status, 400);
  assert.match((await res.json()).error, /JSON/);
});

for (
  const [body, field] of [
    [{ n: 2 }, "prompt"],
    [{ prompt: 5, n: 2 }, "prompt"],
    [{ prompt: "x", n: "2" }, "n"],
    [{ prompt: "x", n: 2.5 }, "n"],
    [{ prompt: "x", n: 2, width: "wide" }, "width"],
    [{ prompt: "x", n: 2, seed: 1.5 }, "seed"],
    [{ prompt: "x", n: 1e12 }, "n"],
    [{ prompt: "x", n: 2, width: -1e10 }, "width"],
    [{ prompt: "x", n: 2, seed: 2 ** 60 }, "seed"],
    [{ prompt: "x", n: 2, colour: "red" }, "colour"],
    [{ prompt: "x", n: 2, strength: 50 }, "strength"],
    [{ from_image_id: "i1", n: 2, steps: 8 }, "steps"],
    [{ from_image_id: "i1", kind: "generate" }, "kind"],
    [{ from_image_id: "i1", kind: "upscale", strength: 50 }, "strength"],
    [{ from_image_id: "i1", kind: "vary", mask_path: "u/masks/m.png" }, "mask_path"],
    [{ prompt: "x", kind: "edit" }, "kind"],
    [{ prompt: "x", factor: 2 }, "factor"],
    [{ from_image_id: "i1", n: 2, width: 512 }, "width"],
    [{ from_image_id: 7, n: 2 }, "from_image_id"],
    [[1, 2], "body"],
  ] as const
) {
  Deno.test(`a bad ${field} is a 400 that names it, before any database call`, async () => {
    const store = new FakeStore();
    const res = await post(store, body);
    assert.equal(res.status, 400);
    assert.ok((await res.json()).error.startsWith(field));
    assert.equal(store.created.length, 0);
  });
}

Deno.test("a 22023 from the database becomes a 400 with its message", async () => {
  const store = new FakeStore({ code: "22023", message: "n must be between 1 and 10, got 11" });
  const res = await post(store, { prompt: "x", n: 11 });
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error, "n must be between 1 and 10, got 11");
});

Deno.test("an anonymous user refused GPU time (PT403) is a 403 telling them to sign up", async () => {
  const message = "anonymous users get no GPU time: sign up with an email address to render pictures";
  const store = new FakeStore({ code: "PT403", message, hint: "sign up, then try again" });
  const res = await post(store, { prompt: "x", n: 1 });
  assert.equal(res.status, 403);
  assert.deepEqual(await res.json(), { error: message, hint: "sign up, then try again" });
});

Deno.test("an unexpected database error is a generic 502 that does not show its text", async () => {
  const store = new FakeStore({ code: "XX000", message: 'relation "imagen.jobs" has a secret' });
  const res = await post(store, { prompt: "x", n: 2 });
  assert.equal(res.status, 502);
  assert.deepEqual(await res.json(), { error: "database error" });
});

Deno.test("no token is a 401", async () => {
  for (const method of ["GET", "POST"]) {
    const res = await call(new FakeStore(), { method, headers: { Authorization: "" } });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get("WWW-Authenticate"), "Bearer");
    await res.body?.cancel();
  }
});

Deno.test("a token the database refuses is a 401", async () => {
  const store = new FakeStore({ code: "PGRST301", message: "JWT invalid" });
  const res = await post(store, { prompt: "x", n: 1 });
  assert.equal(res.status, 401);
  await res.body?.cancel();
});

Deno.test("other methods are a 405 with Allow", async () => {
  const res = await call(new FakeStore(), { method: "DELETE" });
  assert.equal(res.status, 405);
  assert.equal(res.headers.get("Allow"), "GET, POST, OPTIONS");
  await res.body?.cancel();
});

Deno.test("CORS preflight is answered without a token", async () => {
  const handler = createHandler(() => new FakeStore());
  const res = await handler(new Request("http://localhost/imagine", { method: "OPTIONS" }));
  assert.equal(res.status, 204);
  assert.match(res.headers.get("Access-Control-Allow-Headers") ?? "", /authorization/);
});

Deno.test("GET returns the series, each try's state and signed URLs for finished pictures", async () => {
  const res = await call(new FakeStore(), { url: `http://localhost/imagine?series_id=${SERIES_ID}` });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.series.id, SERIES_ID);
  assert.deepEqual(body.tries.map((t: { status: string }) => t.status), ["done", "running"]);
  assert.match(body.tries[0].image_url, /^https:\/\/signed\.example\/.*ttl=3600$/);
  assert.equal(body.tries[1].image_url, null);
  assert.equal(body.tries[1].progress, 2);
  // Places come from the database's queue_places, matched by try id.
  assert.equal(body.tries[0].expected_start, null);
  assert.equal(body.tries[1].expected_start, "2026-01-01T00:00:00+00:00");
});

Deno.test("GET of a series the caller cannot see is a 404", async () => {
  const other = "9d0c2f4e-2a57-4c1b-8c3e-6f0e2d1a9b77";
  const res = await call(new FakeStore(), { url: `http://localhost/imagine?series_id=${other}` });
  assert.equal(res.status, 404);
  await res.body?.cancel();
});

Deno.test("GET without a valid series_id is a 400", async () => {
  const res = await call(new FakeStore(), { url: "http://localhost/imagine?series_id=nope" });
  assert.equal(res.status, 400);
  assert.match((await res.json()).error, /^series_id/);
});
