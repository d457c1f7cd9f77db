// Every row of a read, past PostgREST's db-max-rows: a hosted project answers at most 1,000 rows a
// request and says nothing of the others (bench/RESULTS.md, "PostgREST's hosted limits"). A read
// that can pass it is read a range at a time (offset and limit), in an order that gives every row
// one place, until it holds what was wanted or a range comes back empty; a read that asks for its
// count (count: "exact") stops when it holds that many, without the empty range. So a project
// whose cap is lower than a range is read whole too. Reads of a few rows (a page of the gallery)
// ask for no count: PostgREST would count every row of the filter on each poll.
import type { PostgrestError } from "@supabase/supabase-js";
import { fail } from "./api";

/** One range of a read, as supabase-js answers it: `count` is the total (count: "exact"), or null. */
interface Range<Row> {
  data: Row[] | null;
  error: PostgrestError | null;
  count: number | null;
}

/** The rows asked for a range: a hosted project's db-max-rows. */
const RANGE_ROWS = 1000;

/** The rows of `read(from, to)` (`.range(from, to)` on a read in a stable order ending in a unique
 * column), all of them or the first `wanted`. A row read twice (rows added between ranges move the
 * later ones along) is kept once; rows removed between ranges may leave one out until the next read. */
export async function readAll<Row extends { id: string }>(read: (from: number, to: number) => PromiseLike<Range<Row>>, wanted = Infinity): Promise<Row[]> {
  const rows = new Map<string, Row>();
  let from = 0;
  for (;;) {
    const range = await read(from, Math.min(from + RANGE_ROWS, wanted) - 1);
    if (range.error?.code === "PGRST103") break; // an offset past the end: rows went away meanwhile
    if (range.error) fail(range.error);
    const data = range.data ?? [];
    for (const row of data) rows.set(row.id, row);
    from += data.length;
    if (data.length === 0 || from >= Math.min(range.count ?? Infinity, wanted)) break;
  }
  return [...rows.values()];
}

/** Ids asked for at a time in one filter (`.in(column, ids)`): a hundred UUIDs make a URL of about
 * 4 kB; a gallery that shows 400 series would otherwise ask with 15 kB. */
const ID_CHUNK = 100;

/** `readAll` of a read filtered by `ids`, a hundred ids at a time, so that no URL grows long (each
 * chunk's first `wanted` rows: the caller orders the whole and keeps its first `wanted`). */
export async function readAllByIds<Row extends { id: string }>(ids: string[], read: (chunk: string[], from: number, to: number) => PromiseLike<Range<Row>>, wanted = Infinity): Promise<Row[]> {
  const chunks = Array.from({ length: Math.ceil(ids.length / ID_CHUNK) }, (_, i) => ids.slice(i * ID_CHUNK, (i + 1) * ID_CHUNK));
  const reads = await Promise.all(chunks.map((chunk) => readAll((from, to) => read(chunk, from, to), wanted)));
  return reads.flat();
}
