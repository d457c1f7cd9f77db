// Who is calling, from the Bearer token's claims, before anything is done on the token's behalf.
// The function serves signed-in users only: the anon key, the service-role key (which would act
// past RLS) and any other role are refused here. The signature is not checked here: the token
// is only ever used through PostgREST, which verifies it (and the platform's gateway does too,
// with verify_jwt on). A deleted user's token is still well signed: the database refuses its
// writes (the owner's foreign key), which the handler answers 401.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: unknown): value is string {
  return typeof value === "string" && UUID.test(value);
}

export type Caller = { ok: true; token: string; userId: string } | { ok: false; error: string };

function payloadOf(token: string): Record<string, unknown> | null {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const base64 = parts[1].replaceAll("-", "+").replaceAll("_", "/");
    const text = new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, "=")), (c) => c.charCodeAt(0)),
    );
    const payload: unknown = JSON.parse(text);
    return typeof payload === "object" && payload !== null && !Array.isArray(payload)
      ? payload as Record<string, unknown>
      : null;
  } catch {
    return null;
  }
}

export function callerOf(authorization: string | null): Caller {
  const match = /^Bearer ([^\s]+)$/.exec(authorization ?? "");
  if (!match) return { ok: false, error: "Authorization: Bearer <user JWT> required" };
  const claims = payloadOf(match[1]);
  if (claims === null) return { ok: false, error: "the Bearer token is not a JWT" };
  if (claims.role !== "authenticated") return { ok: false, error: "a signed-in user's token is required" };
  if (!isUuid(claims.sub)) return { ok: false, error: "the token's sub must be a user id" };
  return { ok: true, token: match[1], userId: claims.sub };
}
