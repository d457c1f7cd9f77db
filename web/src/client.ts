// The one Supabase client: typed by the generated schema, pointed at schema `imagen`.
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import type { AppConfig } from "./config";
import type { Database } from "./database.types";

export type ImagenClient = SupabaseClient<Database, "imagen">;

export function makeClient(config: AppConfig): ImagenClient {
  return createClient<Database>(config.supabaseUrl, config.supabaseAnonKey, {
    db: { schema: "imagen" },
    // detectSessionInUrl: a mailed link (confirmation, password recovery) comes back with the
    // session in the fragment (the implicit flow); supabase-js signs in with it and clears it.
    auth: { persistSession: true, autoRefreshToken: true, detectSessionInUrl: true },
    // Realtime's JSON protocol (1.0.0), which hosted Realtime speaks as well as 2.0.0 (the
    // client's default, binary for broadcasts); the project's Realtime stand-in speaks only 1.0.0.
    realtime: { vsn: "1.0.0" },
  });
}
