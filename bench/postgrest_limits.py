"""How far Imagen's heaviest user requests stay from a hosted project's PostgREST limits: a
statement timeout of 8 s for `authenticated` (3 s for `anon`, which calls nothing of Imagen's) and
1,000 rows a response. Timed in the database as `authenticated` (what PostgREST runs), median of
`rounds`: create_series at the most tries a series may have (10), and the gallery's largest
screen as the web app reads it (web/src/all-rows.ts): its series, their tries and their pictures,
the tries and pictures each with its count (PostgREST's `count=exact` runs a count of the same
filter), a hundred series ids a request, for the series the gallery holds after each "more" (24 a page),
every series of 10 finished tries. `python -m bench.postgrest_limits`."""

from __future__ import annotations

import statistics
import time

import psycopg

from bench.common import bench_database, lift_unfinished_cap, parser, print_table, write_results
from imagen.console.users import as_user

TRIES = 10
PAGE = 24  # web/src/views/gallery.ts


ID_CHUNK = 100  # web/src/all-rows.ts
MAX_ROWS = 1000  # a hosted project's db-max-rows


def timed(conn: psycopg.Connection, user, statements: list[tuple[str, tuple]], rounds: int) -> tuple[float, int]:
    """The median seconds of running every statement once, and the most rows one of them answered."""
    seconds, rows = [], 0
    for _ in range(rounds):
        with as_user(conn, user):
            started = time.perf_counter()
            rows = max(len(conn.execute(sql, params).fetchall()) for sql, params in statements)
            seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), rows


def as_requested(select: str, where: str, ids: list | None, order: str, limit: int | None = None) -> list[tuple]:
    """What the app asks PostgREST for one read, as PostgREST runs it: per chunk of ids, the range
    (at most MAX_ROWS rows) and, for a read of every row (no `limit`), the count of the same filter."""
    chunks = [ids[i : i + ID_CHUNK] for i in range(0, len(ids), ID_CHUNK)] if ids is not None else [None]
    statements = []
    for chunk in chunks:
        params = (chunk,) if chunk is not None else ()
        statements.append((f"{select} {where} order by {order} limit {min(limit or MAX_ROWS, MAX_ROWS)}", params))
        if limit is None:
            statements.append((f"select count(*) from ({select} {where}) counted", params))
    return statements


def fill(conn: psycopg.Connection, user, series: int) -> None:
    """`series` series of TRIES finished tries, each with its picture (written as the worker would)."""
    with as_user(conn, user):
        for _ in range(series):
            conn.execute("select imagen.create_series('a gallery', %s)", (TRIES,))
    lease = "attempts = 1, leased_by = 'bench', claim_id = gen_random_uuid(), lease_expires_at = now() + '1h'"
    conn.execute(f"update imagen.jobs set status = 'running', {lease} where status = 'queued'")
    conn.execute("insert into imagen.images (job_id, owner_id, series_id, bucket, path, bytes)"
                 " select id, owner_id, series_id, 'imagen', owner_id || '/' || id || '.png', 1"
                 " from imagen.jobs where status = 'running'")  # fmt: skip
    conn.execute("update imagen.jobs j set status = 'done', image_id = i.id, finished_at = now()"
                 " from imagen.images i where i.job_id = j.id and j.status = 'running'")  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    rounds, pages = (3, 1) if args.smoke else (15, 5)
    rows = []
    with bench_database() as (url, user), psycopg.connect(url, autocommit=True) as conn:
        lift_unfinished_cap(conn, user)
        seconds, _ = timed(conn, user, [("select imagen.create_series('at the cap', %s)", (TRIES,))], rounds)
        rows.append({"request": f"create_series, {TRIES} tries", "series held": "", "requests": 1, "largest answer": 1,
                     "ms": seconds * 1000})  # fmt: skip
        conn.execute("delete from imagen.series")
        for page in range(1, pages + 1):
            fill(conn, user, PAGE)
            held = page * PAGE
            ids = [r[0] for r in conn.execute("select id from imagen.series order by created_at desc limit %s",
                                              (held,))]  # fmt: skip
            tries = "select id, series_id, series_idx, status, image_id from imagen.jobs"
            series = "select * from imagen.series"
            reads = {
                "gallery: series": as_requested(series, "", None, "created_at desc, id", held + 1),
                "gallery: their tries": as_requested(tries, "where series_id = any(%s)", ids, "id"),
                "gallery: their pictures": as_requested("select * from imagen.images", "where series_id = any(%s)", ids,
                                                       "id"),
            }  # fmt: skip
            for name, statements in reads.items():
                seconds, n = timed(conn, user, statements, rounds)
                requests = sum(not sql.startswith("select count") for sql, _ in statements)
                rows.append({"request": name, "series held": held, "requests": requests,
                             "largest answer": n, "ms": seconds * 1000})  # fmt: skip
    print_table("Imagen's heaviest requests against PostgREST's hosted limits (8 s, 1,000 rows)", rows)
    write_results("postgrest_limits", args, {"rows": rows, "tries": TRIES, "page": PAGE})
    return {"rows": rows}


if __name__ == "__main__":
    main()
