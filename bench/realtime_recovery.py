"""How long the worker's wake-up channel and the console's progress feed take to be joined again
after Realtime shuts their channels down over the quota ("Too many messages per second"), and the
console feed after a refused join (its series' topic refused, 5 s to say so, then allowed), through
the Realtime stand-in with upstream's timing. The web page's own recovery is pinned by
tests/test_web_quota_and_expiry.py (joined again at once when the channel had been live 1 s).
`python -m bench.realtime_recovery` (--smoke: one round)."""

from __future__ import annotations

import time

import psycopg

from bench.common import bench_database, parser, print_table, wait_for, write_results
from imagen.config import load_settings
from imagen.console.progress_feed import BroadcastFeed
from imagen.console.users import as_user, ensure_user
from imagen.dev.supabase_standin import SupabaseStandIn
from imagen.transports import open_transport

QUOTA = "Too many messages per second"


def joined_topics(standin: SupabaseStandIn, topic: str) -> int:
    return standin.realtime_topics().count(f"realtime:{topic}")


def timed(shut_down, rejoined) -> float:
    started = time.monotonic()
    shut_down()
    wait_for(lambda: not rejoined(), 10, 0.005)  # the shutdown has landed
    wait_for(rejoined, 120, 0.01)
    return time.monotonic() - started


def worker_after_quota(standin: SupabaseStandIn) -> float:
    settings = load_settings(transport="supabase", supabase_url=standin.url, model="tiny",
                             supabase_service_role_key=standin.keys.service_role)  # fmt: skip
    queue, _ = open_transport(settings)
    try:
        wait_for(queue.connector.is_listening, 30)
        return timed(lambda: standin.shut_down_realtime_channels(QUOTA), queue.connector.is_listening)
    finally:
        queue.close()


def feed_after_quota(standin: SupabaseStandIn, series_id: str) -> float:
    feed = BroadcastFeed(standin.url, standin.keys.service_role, series_id)
    try:
        topic = f"series:{series_id}"
        return timed(lambda: standin.shut_down_realtime_channels(QUOTA), lambda: joined_topics(standin, topic) == 1)
    finally:
        feed.close()


def feed_after_refused_join(standin: SupabaseStandIn, url: str) -> float:
    """A user's feed on a series that is not there yet (refused), until the series exists."""
    with psycopg.connect(url, autocommit=True) as conn:
        user = ensure_user(conn, "late@imagen.local")
        with as_user(conn, user):
            series = conn.execute("select imagen.create_series('late', 1)").fetchone()[0]
        conn.execute("update imagen.series set owner_id = %s where id = %s", (ensure_user(conn, "x@imagen.local"),
                                                                              series["id"]))  # fmt: skip
        started = time.monotonic()
        feed = BroadcastFeed(standin.url, standin.keys.user(user), series["id"], join_timeout=30)
        try:
            time.sleep(0.5)  # the join is checked (and refused, answered 5 s later) before the series is theirs
            conn.execute("update imagen.series set owner_id = %s where id = %s", (user, series["id"]))
            wait_for(lambda: joined_topics(standin, f"series:{series['id']}") == 1, 120, 0.01)
            return time.monotonic() - started
        finally:
            feed.close()


def main(argv: list[str] | None = None) -> dict:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    rounds = 1 if args.smoke else 3
    rows = []
    with bench_database() as (url, user), SupabaseStandIn(url) as standin:
        with psycopg.connect(url, autocommit=True) as conn, as_user(conn, user):
            series_id = conn.execute("select imagen.create_series('watched', 1)").fetchone()[0]["id"]
        cases = {"worker wake-up, quota shutdown": lambda: worker_after_quota(standin),
                 "console feed, quota shutdown": lambda: feed_after_quota(standin, series_id),
                 "console feed, refused join": lambda: feed_after_refused_join(standin, url)}  # fmt: skip
        for name, case in cases.items():
            seconds = [case() for _ in range(rounds)]
            rows.append({"case": name, "rounds": rounds, "min s": min(seconds), "max s": max(seconds)})
    print_table("Joined again after Realtime closed or refused the channel (stand-in, upstream timing)", rows)
    write_results("realtime_recovery", args, {"rows": rows})
    return {"rows": rows}


if __name__ == "__main__":
    main()
