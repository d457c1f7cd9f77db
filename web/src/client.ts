// The one Supabase client: typed by the generated schema, pointed at schema `imagen`.
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import type { AppConfig } from "./config";
import type { Database } from "./database.types";

export type ImagenClient = SupabaseClient<Database, "imagen">;

/** Fired on window when the API refuses the signed-in user's token (401 from the Data API or
 * Storage: bad, expired, revoked): main.ts signs the user out and says why. */
export const SESSION_REFUSED = "imagen:session-refused";

/** fetch, watching for the API's 401 to a request that carried a user's token (not the anon key). */
function watchingFetch(anonKey: string): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, init);
    if (response.status === 401) {
      const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
      const bearer = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined)).get("Authorization");
      if (/\/(rest|storage)\/v1\//.test(url) && bearer && bearer !== `Bearer ${anonKey}`) window.dispatchEvent(new Event(SESSION_REFUSED));
    }
    return response;
  };
}

export function makeClient(config: AppConfig): ImagenClient {
  return createClient<Database>(config.supabaseUrl, config.supabaseAnonKey, {
    global: { fetch: watchingFetch(config.supabaseAnonKey) },
    db: { schema: "imagen" },
    // detectSessionInUrl: a mailed link (confirmation, password recovery) comes back with the
    // session in the fragment (the implicit flow); supabase-js signs in with it and clears it.
    auth: { persistSession: true, autoRefreshToken: true, detectSessionInUrl: true },
    // Realtime's JSON protocol (1.0.0), which hosted Realtime speaks as well as 2.0.0 (the
    // client's default, binary for broadcasts); the project's Realtime stand-in speaks only 1.0.0.
    realtime: { vsn: "1.0.0" },
  });
}
