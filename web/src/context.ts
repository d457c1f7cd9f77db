import type { Session } from "@supabase/supabase-js";
import { type Api, ApiError } from "./api";
import { capMessage, TOO_MANY_UNFINISHED } from "./cap";
import type { ImagenClient } from "./client";
import type { Pictures } from "./pictures";

/** What every screen gets. */
export interface Ctx {
  db: ImagenClient;
  api: Api;
  pictures: Pictures;
  session: Session;
}

/** A screen draws into `main` and returns what to undo when the user leaves it. */
export type Cleanup = () => void;

/** Whether the error is the network's (the server could not be reached), not an answer. */
export function isUnreachable(error: unknown): boolean {
  const message = error instanceof Error ? error.message : typeof error === "object" && error !== null && "message" in error ? String(error.message) : "";
  return /Failed to fetch|NetworkError|Load failed|fetch failed|network/i.test(message);
}

export const UNREACHABLE = "Imagen's server cannot be reached just now: check your connection. The page tries again by itself.";
export const SESSION_INVALID = "Your session is no longer valid. Sign in again to carry on where you were.";

/** An error in words a person understands, with what to do next: the database's own sentences
 * (they name what is wrong) as they are; a library's raw message (a network failure, a token the
 * API refused) replaced by a sentence, the raw one going to the console. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError && error.code === TOO_MANY_UNFINISHED) return capMessage(error.message, error.details);
  if (isUnreachable(error)) {
    console.warn("imagen:", error);
    return UNREACHABLE;
  }
  if ((error instanceof ApiError && /^PGRST30[0-3]$/.test(error.code ?? "")) || (error instanceof Error && /\bJWT\b/.test(error.message))) {
    console.warn("imagen:", error);
    return SESSION_INVALID;
  }
  if (error instanceof Error) return error.message;
  if (typeof error === "object" && error !== null && "message" in error) return String(error.message);
  return String(error);
}
