// Configuration is read and checked once, at start-up: a missing value stops the function
// with a message naming it, instead of failing later on an empty string.
export interface Config {
  supabaseUrl: string;
  anonKey: string;
}

export function readConfig(get: (name: string) => string | undefined): Config {
  const missing = ["SUPABASE_URL", "SUPABASE_ANON_KEY"].filter((name) => !get(name));
  if (missing.length > 0) {
    throw new Error(`imagine: missing environment variable(s): ${missing.join(", ")}`);
  }
  const supabaseUrl = get("SUPABASE_URL")!;
  try {
    new URL(supabaseUrl);
  } catch {
    throw new Error(`imagine: SUPABASE_URL is not a URL: ${supabaseUrl}`);
  }
  return { supabaseUrl, anonKey: get("SUPABASE_ANON_KEY")! };
}
