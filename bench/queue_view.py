"""What a look at the queue costs the database: `imagen.queue_places()` as a user (what the web app
reads for a series with tries waiting, every few seconds while it is open) and the whole view
`imagen.queue` as the service role (`imagen status`, the imagine function's GET), with N unfinished
tries of 10 users in series of 10, 10 workers each rendering one and 50 renders finished (what the
estimates are fitted on). Median of `rounds`, timed in the database's session as the caller.
`python -m bench.queue_view`."""

from __future__ import annotations

import statistics
import time

import psycopg
from psycopg.types.json import Jsonb

from bench.common import bench_database, check_goal, lift_unfinished_cap, parser, print_table, write_results
from imagen.console.users import acting_as, as_user, ensure_user

USERS, WORKERS, FINISHED = 10, 10, 50
GOAL_MS = 50  # a user's places at 1,000 unfinished tries (a watcher polls every 3 s)
TINY = Jsonb({"model": "tiny", "width": 256, "height": 256, "steps": 2})


def queued(conn: psycopg.Connection, users: list, tries: int) -> None:
    """`tries` tries more, in series of 10, the users in turn."""
    for n in range(tries // 10):
        with as_user(conn, users[n % len(users)]):
            conn.execute("select imagen.create_series('the queue', 10, %s)", (TINY,))


def rendering(conn: psycopg.Connection) -> None:
    """FINISHED renders done a second each (the estimates' fit), then WORKERS tries rendering."""
    conn.execute("set role service_role")
    for n in range(FINISHED + WORKERS):
        conn.execute("select imagen.claim_job(%s, 600)", (f"w{n % WORKERS}",))
    conn.execute("reset role")
    conn.execute("update imagen.jobs set status = 'done', finished_at = started_at + interval '1 second'"
                 " where id in (select id from imagen.jobs where status = 'running' order by started_at, id limit %s)",
                 (FINISHED,))  # fmt: skip


def median_ms(conn: psycopg.Connection, sql: str, rounds: int, user=None) -> tuple[float, int]:
    """The median milliseconds of `sql` as `user` (None: the service role), and its rows."""
    seconds, rows = [], 0
    for _ in range(rounds):
        with as_user(conn, user) if user is not None else acting_as(conn, "service_role"):
            started = time.perf_counter()
            rows = len(conn.execute(sql).fetchall())
            seconds.append(time.perf_counter() - started)
    return statistics.median(seconds) * 1000, rows


def main(argv: list[str] | None = None) -> dict:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    sizes, rounds = ((100,), 3) if args.smoke else ((100, 1000, 5000), 15)
    rows = []
    with bench_database() as (url, first), psycopg.connect(url, autocommit=True) as conn:
        users = [first] + [ensure_user(conn, f"queue{n}@imagen.local") for n in range(USERS - 1)]
        for user in users:
            lift_unfinished_cap(conn, user)
        queued(conn, users, FINISHED + WORKERS)
        rendering(conn)
        held = 0
        for size in sizes:
            queued(conn, users, size - held)
            held = size
            places_ms, own = median_ms(conn, "select * from imagen.queue_places()", rounds, user=first)
            view_ms, listed = median_ms(conn, "select * from imagen.queue", rounds)
            rows.append({"runnable tries": size, "workers rendering": WORKERS, "a user's places": own,
                         "queue_places() ms": places_ms, "the whole view": listed,
                         "imagen.queue ms": view_ms})  # fmt: skip
    print_table("A look at the queue, in the database", rows)
    at_1000 = next((r for r in rows if r["runnable tries"] == 1000), None)
    if at_1000:
        ms = at_1000["queue_places() ms"]
        print(f"\nqueue_places() at 1,000 unfinished tries: {ms:.1f} ms (goal <= {GOAL_MS} ms)")
        check_goal("queue_view", "queue_places() ms at 1,000 unfinished tries", ms, f"<= {GOAL_MS}", ms <= GOAL_MS)
    write_results("queue_view", args, {"rows": rows, "goal_ms": GOAL_MS})
    return {"rows": rows}


if __name__ == "__main__":
    main()
