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

export function errorMessage(error: unknown): string {
  if (error instanceof ApiError && error.code === TOO_MANY_UNFINISHED) return capMessage(error.message, error.details);
  if (error instanceof Error) return error.message;
  if (typeof error === "object" && error !== null && "message" in error) return String(error.message);
  return String(error);
}
