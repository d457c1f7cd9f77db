// The app's two settings, read at runtime so one build serves any project: config.json next to
// index.html ({"supabaseUrl": "...", "supabaseAnonKey": "..."}), else the Vite build-time env
// VITE_SUPABASE_URL / VITE_SUPABASE_ANON_KEY. Only the anon (publishable) key belongs here: RLS
// is the security boundary; a service-role key must never reach a browser.

export interface AppConfig {
  supabaseUrl: string;
  supabaseAnonKey: string;
}

export class ConfigMissing extends Error {}

function clean(value: unknown): string {
  return typeof value === "string" ? value.trim() : "";
}

async function fromFile(): Promise<Partial<AppConfig>> {
  try {
    const response = await fetch(new URL("config.json", document.baseURI), { cache: "no-store" });
    if (!response.ok) return {};
    const body: unknown = await response.json();
    if (typeof body !== "object" || body === null) return {};
    const record = body as Record<string, unknown>;
    return { supabaseUrl: clean(record.supabaseUrl), supabaseAnonKey: clean(record.supabaseAnonKey) };
  } catch {
    return {}; // no file, or not JSON (a dev server's index.html fallback): use the env
  }
}

export async function loadConfig(): Promise<AppConfig> {
  const file = await fromFile();
  const supabaseUrl = file.supabaseUrl || clean(import.meta.env.VITE_SUPABASE_URL);
  const supabaseAnonKey = file.supabaseAnonKey || clean(import.meta.env.VITE_SUPABASE_ANON_KEY);
  if (!supabaseUrl || !supabaseAnonKey) {
    throw new ConfigMissing(
      "No Supabase project is configured: serve a config.json next to index.html with " +
        '{"supabaseUrl": "https://<ref>.supabase.co", "supabaseAnonKey": "<anon key>"}, ' +
        "or build with VITE_SUPABASE_URL and VITE_SUPABASE_ANON_KEY.",
    );
  }
  return { supabaseUrl: supabaseUrl.replace(/\/+$/, ""), supabaseAnonKey };
}
