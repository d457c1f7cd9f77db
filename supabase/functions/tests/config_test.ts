import assert from "node:assert/strict";
import { readConfig } from "../_shared/config.ts";

Deno.test("configuration names every missing variable", () => {
  assert.throws(() => readConfig(() => undefined), /SUPABASE_URL, SUPABASE_ANON_KEY/);
});

Deno.test("configuration refuses a URL that is not one", () => {
  const env: Record<string, string> = { SUPABASE_URL: "not a url", SUPABASE_ANON_KEY: "k" };
  assert.throws(() => readConfig((n) => env[n]), /SUPABASE_URL is not a URL/);
});

Deno.test("configuration reads both values", () => {
  const env: Record<string, string> = { SUPABASE_URL: "http://127.0.0.1:54321", SUPABASE_ANON_KEY: "k" };
  assert.deepEqual(readConfig((n) => env[n]), { supabaseUrl: "http://127.0.0.1:54321", anonKey: "k" });
});
