// The imagine handler under hostile requests (issue 19): oversized bodies, tokens that are not
// a signed-in user's, text Postgres cannot hold, keys that are Object.prototype's members,
// numbers not written as integers, the cap on unfinished tries, and the largest valid body.
import assert from "node:assert/strict";
import { MAX_BODY_BYTES } from "../imagine/body.ts";
import { createHandler, RETRY_AFTER_SECONDS } from "../imagine/handler.ts";
import { call, FakeStore, post, token, USER_ID } from "./fake_store.ts";
import { SETTINGS_RULES } from "../_shared/settings_rules.ts";

Deno.test("the largest valid body, every character a surrogate pair, is within the body limit", async () => {
  const longest = (field: "prompt" | "model" | "style") => "\\ud83e\\udd8a".repeat(SETTINGS_RULES[field].max_chars);
  const body = `{"prompt": "${longest("prompt")}", "model": "${longest("model")}", "style": "${longest("style")}"}`;
  assert.ok(body.length < MAX_BODY_BYTES / 2, `${body.length} bytes`);
  const store = new FakeStore();
  assert.equal((await post(store, body)).status, 201);
});

/** A body of `total` bytes in 16 KiB chunks that counts what the handler pulled from it. */
function countingBody(total: number) {
  const counter = { pulled: 0 };
  const chunk = new Uint8Array(16 * 1024).fill(0x20);
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (counter.pulled >= total) return controller.close();
      counter.pulled += chunk.byteLength;
      controller.enqueue(chunk);
    },
  }, { highWaterMark: 0 }); // nothing is pulled until someone reads
  return { stream, counter };
}

Deno.test("a body whose Content-Length is over the limit is a 413, and none of it is read", async () => {
  const store = new FakeStore();
  const { stream, counter } = countingBody(20 * 1024 * 1024);
  const res = await call(store, {
    method: "POST",
    body: stream,
    headers: { "Content-Length": String(20 * 1024 * 1024) },
  });
  assert.equal(res.status, 413);
  assert.match((await res.json()).error, /at most 65536 bytes/);
  assert.equal(counter.pulled, 0);
  assert.equal(store.created.length, 0);
});

Deno.test("a body without Content-Length (chunked) is read only up to the limit, then a 413", async () => {
  const store = new FakeStore();
  const { stream, counter } = countingBody(20 * 1024 * 1024);
  const res = await call(store, { method: "POST", body: stream });
  assert.equal(res.status, 413);
  await res.body?.cancel();
  assert.ok(counter.pulled <= MAX_BODY_BYTES + 2 * 16 * 1024, `pulled ${counter.pulled} bytes`);
  assert.equal(store.created.length, 0);
});

Deno.test("a Content-Length that lies low does not let more than the limit through", async () => {
  const { stream, counter } = countingBody(1024 * 1024);
  const res = await call(new FakeStore(), { method: "POST", body: stream, headers: { "Content-Length": "10" } });
  assert.equal(res.status, 413);
  await res.body?.cancel();
  assert.ok(counter.pulled <= MAX_BODY_BYTES + 2 * 16 * 1024);
});

Deno.test("a valid body just under the limit is served", async () => {
  const padding = " ".repeat(MAX_BODY_BYTES - 40);
  const res = await post(new FakeStore(), `{"prompt": "a heron", "n": 1}${padding}`);
  assert.equal(res.status, 201);
  await res.body?.cancel();
});

for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""]) {
  Deno.test(`Content-Type ${JSON.stringify(type)} is a 415`, async () => {
    const store = new FakeStore();
    const res = await call(store, {
      method: "POST",
      body: JSON.stringify({ prompt: "x", n: 1 }),
      headers: type ? { "Content-Type": type } : { "Content-Type": "" },
    });
    assert.equal(res.status, 415);
    assert.match((await res.json()).error, /Content-Type must be application\/json/);
    assert.equal(store.created.length, 0);
  });
}

Deno.test("Content-Type application/json with a charset is served", async () => {
  const res = await post(new FakeStore(), { prompt: "x", n: 1 }, { "Content-Type": "Application/JSON; charset=utf-8" });
  assert.equal(res.status, 201);
  await res.body?.cancel();
});

for (
  const [name, claims] of [
    ["the anon key", { role: "anon" }],
    ["the service-role key", { role: "service_role" }],
    ["another role", { role: "supabase_admin", sub: USER_ID }],
    ["no role", { sub: USER_ID }],
    ["a sub that is no user id", { role: "authenticated", sub: "admin" }],
    ["no sub", { role: "authenticated" }],
  ] as const
) {
  Deno.test(`${name} as the Bearer token is a 401 before anything is done with it`, async () => {
    for (const method of ["GET", "POST"]) {
      let built = 0;
      const handler = createHandler(() => {
        built += 1;
        return new FakeStore();
      });
      const res = await handler(
        new Request(`http://localhost/imagine?series_id=${USER_ID}`, {
          method,
          headers: { Authorization: `Bearer ${token(claims)}`, "Content-Type": "application/json" },
          body: method === "POST" ? JSON.stringify({ prompt: "x", n: 1 }) : undefined,
        }),
      );
      assert.equal(res.status, 401);
      await res.body?.cancel();
      assert.equal(built, 0);
    }
  });
}

Deno.test("a token that is not a JWT is a 401", async () => {
  for (const bearer of ["user-token", "a.b.c", `x.${btoa("[]")}.y`]) {
    const res = await call(new FakeStore(), { method: "POST", headers: { Authorization: `Bearer ${bearer}` } });
    assert.equal(res.status, 401);
    await res.body?.cancel();
  }
});

Deno.test("a deleted or unknown user's token (the owner's foreign key, 23503) is a 401, not a 502", async () => {
  const store = new FakeStore({ code: "23503", message: 'violates foreign key constraint "series_owner_id_fkey"' });
  const res = await post(store, { prompt: "x", n: 1 });
  assert.equal(res.status, 401);
  assert.doesNotMatch((await res.json()).error, /series_owner_id_fkey/);
});

for (
  const [field, raw] of [
    ["prompt", '{"prompt": "a\\u0000b", "n": 1}'],
    ["prompt", '{"prompt": "\\ud800", "n": 1}'],
    ["prompt", '{"prompt": "a\\udc00b", "n": 1}'],
    ["style", '{"prompt": "x", "n": 1, "style": "\\u0000"}'],
    ["style", '{"prompt": "x", "n": 1, "style": "tail \\ud83d"}'],
    ["model", '{"prompt": "x", "n": 1, "model": "m\\u0000"}'],
  ] as const
) {
  Deno.test(`NUL or a lone surrogate in ${field} (${raw}) is a 400 naming it`, async () => {
    const store = new FakeStore();
    const res = await post(store, raw);
    assert.equal(res.status, 400);
    assert.ok((await res.json()).error.startsWith(`${field}: must`));
    assert.equal(store.created.length, 0);
  });
}

Deno.test("a surrogate pair (an emoji) is fine", async () => {
  const store = new FakeStore();
  const res = await post(store, '{"prompt": "a heron \\ud83e\\udda9", "n": 1}');
  assert.equal(res.status, 201);
  await res.body?.cancel();
  assert.equal(store.created[0].prompt, "a heron \u{1f9a9}");
});

Deno.test("bytes that are not UTF-8 are a 400", async () => {
  const bytes = new Uint8Array([
    ...new TextEncoder().encode('{"prompt": "'),
    0xff,
    0xfe,
    ...new TextEncoder().encode('", "n": 1}'),
  ]);
  const res = await call(new FakeStore(), { method: "POST", body: bytes });
  assert.equal(res.status, 400);
  assert.match((await res.json()).error, /UTF-8/);
});

for (const key of ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf", "isPrototypeOf", "prototype"]) {
  Deno.test(`"${key}" as a key is an unknown field, not silently dropped`, async () => {
    const store = new FakeStore();
    const res = await post(store, `{"prompt": "x", "n": 1, "${key}": {"polluted": true}}`);
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error, `${key}: unknown field`);
    assert.equal(store.created.length, 0);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
}

for (
  const [field, text] of [
    ["n", "3.0"],
    ["n", "1e1"],
    ["n", "2E0"],
    ["n", "0.3e1"],
    ["width", "512.0"],
    ["steps", "4.00"],
    ["seed", "7e0"],
  ] as const
) {
  Deno.test(`${field} written as ${text} is a 400 naming it (an integer is written without . or e)`, async () => {
    const store = new FakeStore();
    const res = await post(store, `{"prompt": "x", "n": 2, "${field}": ${text}}`);
    assert.equal(res.status, 400);
    const { error } = await res.json();
    assert.ok(error.startsWith(`${field}: must be an integer`), error);
    assert.ok(error.includes(text), error);
    assert.equal(store.created.length, 0);
  });
}

Deno.test("-0 and plain integers are integers", async () => {
  const store = new FakeStore();
  const res = await post(store, '{"prompt": "x", "n": 2, "seed": -0, "width": 512}');
  assert.equal(res.status, 201);
  await res.body?.cancel();
  assert.equal(store.created[0].width, 512);
});

Deno.test("the cap on unfinished tries (PT429) is a 429 with Retry-After", async () => {
  const store = new FakeStore({
    code: "PT429",
    message: "too many unfinished tries: you have 49 queued or running and ask for 2 more, the limit is 50",
    hint: "wait for some tries to finish or cancel them",
  });
  const res = await post(store, { prompt: "x", n: 2 });
  assert.equal(res.status, 429);
  assert.equal(res.headers.get("Retry-After"), String(RETRY_AFTER_SECONDS));
  assert.match(res.headers.get("Access-Control-Expose-Headers") ?? "", /Retry-After/);
  const body = await res.json();
  assert.match(body.error, /^too many unfinished tries/);
  assert.equal(body.hint, "wait for some tries to finish or cancel them");
});

Deno.test("NUL reaching the database anyway (22P05) is a 400, not a 502", async () => {
  const store = new FakeStore({ code: "22P05", message: "unsupported Unicode escape sequence" });
  const res = await post(store, { prompt: "x", n: 1 });
  assert.equal(res.status, 400);
  await res.body?.cancel();
});
