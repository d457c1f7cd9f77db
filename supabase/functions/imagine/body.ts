// Reads a POST body as text within a byte limit, refusing it before reading what is too much.
// Hosted Edge Functions have 256 MB of memory and no body limit of their own: a body read whole
// (req.json()) lets one caller with a 200 MB body, or a few with 20 MB each, exhaust it.

// The largest valid body, its texts at their longest (imagen.settings_rules) with every character
// written as a \uXXXX surrogate pair (12 bytes), is well under this (a test checks).
export const MAX_BODY_BYTES = 64 * 1024;

export interface Refusal {
  ok: false;
  status: 400 | 413 | 415;
  error: string;
}
export type Body = { ok: true; text: string } | Refusal;

const TOO_LARGE = `body must be at most ${MAX_BODY_BYTES} bytes`;

/** 415 unless the body says it is JSON; 413 if Content-Length already says it is too large.
 * Reads nothing: call before anything slow, so a refused body is never waited for. */
export function refuseBeforeReading(req: Request): Refusal | null {
  const type = (req.headers.get("Content-Type") ?? "").split(";")[0].trim().toLowerCase();
  if (type !== "application/json") {
    return { ok: false, status: 415, error: "Content-Type must be application/json" };
  }
  const declared = req.headers.get("Content-Length");
  if (declared !== null && !(Number(declared) <= MAX_BODY_BYTES)) {
    return { ok: false, status: 413, error: TOO_LARGE };
  }
  return null;
}

/** The body as UTF-8 text; stops reading (and cancels the stream) at the first byte over the
 * limit, whatever Content-Length said or whether there was one (chunked). */
export async function readText(req: Request): Promise<Body> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (req.body) {
    const reader = req.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > MAX_BODY_BYTES) {
        await reader.cancel();
        return { ok: false, status: 413, error: TOO_LARGE };
      }
      chunks.push(value);
    }
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  try {
    // fatal: a byte that is not UTF-8 is refused, not silently turned into U+FFFD.
    return { ok: true, text: new TextDecoder("utf-8", { fatal: true }).decode(bytes) };
  } catch {
    return { ok: false, status: 400, error: "body must be UTF-8" };
  }
}
