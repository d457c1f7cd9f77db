// Every row of a read, past PostgREST's db-max-rows: a hosted project answers at most 1,000 rows a
// request and says nothing of the others (bench/RESULTS.md, "PostgREST's hosted limits"). A read
// that can pass it asks for its count and is read a range at a time (offset and limit), in an
// order that gives every row one place; the count, not a short page, says when it is done, so a
// project whose cap is lower than a page is read whole too.
import type { PostgrestError } from "@supabase/supabase-js";
import { fail } from "./api";

/** One range of a read, as supabase-js answers it: `count` is the total (count: "exact"). */
interface Range<Row> {
  data: Row[] | null;
  error: PostgrestError | null;
  count: number | null;
}

/** The rows asked for a range: a hosted project's db-max-rows. */
const RANGE_ROWS = 1000;

/** The rows of `read(from, to)` (`.range(from, to)` on a read with `{ count: "exact" }` and a
 * stable order ending in a unique column), all of them or the first `wanted`. A row read twice
 * (rows added between ranges move the later ones along) is kept once; rows removed between ranges
 * may leave one out until the next read. */
export async function readAll<Row extends { id: string }>(read: (from: number, to: number) => PromiseLike<Range<Row>>, wanted = Infinity): Promise<Row[]> {
  const rows = new Map<string, Row>();
  let from = 0;
  for (;;) {
    const range = await read(from, Math.min(from + RANGE_ROWS, wanted) - 1);
    if (range.error?.code === "PGRST103") break; // an offset past the end: rows went away meanwhile
    if (range.error) fail(range.error);
    if (range.count === null) throw new Error("readAll: the read must ask for its count (count: \"exact\")");
    const data = range.data ?? [];
    for (const row of data) rows.set(row.id, row);
    from += data.length;
    if (data.length === 0 || from >= Math.min(range.count, wanted)) return [...rows.values()];
  }
  return [...rows.values()];
}

/** Ids asked for at a time in one filter (`.in(column, ids)`): a hundred UUIDs make a URL of about
 * 4 kB; a gallery that shows 400 series would otherwise ask with 15 kB. */
const ID_CHUNK = 100;

/** `readAll` of a read filtered by `ids`, a hundred ids at a time, so that no URL grows long. */
export async function readAllByIds<Row extends { id: string }>(ids: string[], read: (chunk: string[], from: number, to: number) => PromiseLike<Range<Row>>): Promise<Row[]> {
  const chunks = Array.from({ length: Math.ceil(ids.length / ID_CHUNK) }, (_, i) => ids.slice(i * ID_CHUNK, (i + 1) * ID_CHUNK));
  const reads = await Promise.all(chunks.map((chunk) => readAll((from, to) => read(chunk, from, to))));
  return reads.flat();
}
