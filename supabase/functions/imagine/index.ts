// Edge function `imagine`: serves only. Configuration is checked before the first request.
import { createClient } from "@supabase/supabase-js";
import { readConfig } from "../_shared/config.ts";
import { createHandler } from "./handler.ts";
import { supabaseStore } from "./store.ts";

const config = readConfig((name) => Deno.env.get(name));

const handler = createHandler((token) =>
  supabaseStore(
    createClient(config.supabaseUrl, config.anonKey, {
      global: { headers: { Authorization: `Bearer ${token}` } },
      auth: { persistSession: false, autoRefreshToken: false },
    }),
  )
);

const port = Number(Deno.env.get("PORT") ?? "8000");
Deno.serve({ port, hostname: Deno.env.get("HOSTNAME") ?? "0.0.0.0" }, handler);
