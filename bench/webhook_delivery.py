"""Webhook delivery: deliveries per second and the delay from an event's commit to its arrival at
the endpoint (p50/p99), through `imagen webhooks`' deliverer (16 threads, one delivery in flight
per endpoint) to a local receiver that verifies every signature. 8 users with an endpoint each;
each event is a try.done. Two phases: a burst (100 tries done per transaction, committed as fast
as they go, far faster than they can be delivered: the deliverer's throughput, and the delay with
a backlog) and a paced run (one try a transaction at a steady rate well under the throughput:
the delay with no backlog). The committer, the
deliverer and the receiver share one Python process (one clock), so they also share its GIL."""

from __future__ import annotations

import threading
import time

import psycopg

from bench.common import bench_database, parser, print_table, summary_ms, write_results
from imagen.console.users import as_user, ensure_user
from imagen.dev.webhook_receiver import WebhookReceiver
from imagen.webhooks.deliverer import Deliverer

USERS = 8


def queue_tries(conn: psycopg.Connection, users: list, count: int) -> list:
    """count running tries spread over the users, ids in the order they will be finished."""
    with conn.transaction():
        rows = conn.execute(
            "insert into imagen.jobs (owner_id, settings, status, started_at, lease_expires_at)"
            " select (%s::uuid[])[1 + i %% %s], jsonb_build_object('prompt', 'p', 'model', 'm', 'seed', i),"
            " 'running', now(), now() + interval '1 hour'"
            " from generate_series(1, %s) i returning id",
            (users, len(users), count),
        ).fetchall()
    return [str(r[0]) for r in rows]


def finish(conn: psycopg.Connection, ids: list, rate: float | None, batch: int) -> dict[str, float]:
    """The tries done, batch of them per transaction (each try.done written by it), at rate
    transactions a second (None: as fast as they go); when each committed."""
    committed = {}
    started = time.perf_counter()
    for n in range(0, len(ids), batch):
        if rate is not None:
            time.sleep(max(0.0, started + n / batch / rate - time.perf_counter()))
        chunk = ids[n : n + batch]
        conn.execute("update imagen.jobs set status = 'done', finished_at = now() where id = any(%s::uuid[])", (chunk,))
        at = time.perf_counter()
        committed.update((try_id, at) for try_id in chunk)
    return committed


def arrivals(receiver: WebhookReceiver) -> dict[str, float]:
    """try id -> when its try.done was first accepted."""
    return {payload["data"]["try_id"]: at for payload, at in receiver.arrivals()}


def wait_for(receiver: WebhookReceiver, ids: list, timeout: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while not all(i in (arrived := arrivals(receiver)) for i in ids):
        if time.monotonic() > deadline:
            raise SystemExit(f"only {sum(i in arrived for i in ids)} of {len(ids)} deliveries arrived")
        time.sleep(0.01)
    return arrived


def phase(name: str, conn, receiver, users, count: int, rate: float | None, batch: int) -> dict:
    ids = queue_tries(conn, users, count)
    committed = finish(conn, ids, rate, batch)
    arrived = wait_for(receiver, ids, timeout=120 + count / 10)
    delays = [arrived[i] - committed[i] for i in ids]
    span = max(arrived[i] for i in ids) - min(committed.values())
    return {"phase": name, "events": count, "deliveries_per_s": count / span, **summary_ms(delays)}


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__).parse_args(argv)
    burst, paced, rate = (20, 5, 50.0) if args.smoke else (3000, 500, 50.0)
    receiver = WebhookReceiver()
    with bench_database(durable=not args.smoke) as (url, _), psycopg.connect(url, autocommit=True) as conn:
        users = [ensure_user(conn, f"hooks{i}@imagen.local") for i in range(USERS)]
        for i, user in enumerate(users):
            with as_user(conn, user):
                secret = conn.execute(
                    "insert into imagen.webhook_endpoints (url, events) values (%s, array['try.done'])"
                    " returning secret",
                    (receiver.url(f"/u{i}"),),
                ).fetchone()[0]
            receiver.secrets[f"/u{i}"] = secret
        deliverer = Deliverer(url, allow_private_addresses=True)
        thread = threading.Thread(target=deliverer.run, daemon=True)
        thread.start()
        try:
            rows = [
                phase("burst, 100 a commit", conn, receiver, users, burst, None, 100),
                phase(f"paced, 1 a commit, {rate:g}/s", conn, receiver, users, paced, rate, 1),
            ]
        finally:
            deliverer.stop()
            thread.join(30)
    receiver.close()
    assert receiver.bad_signatures == 0, f"{receiver.bad_signatures} deliveries failed their signature check"
    print_table(
        f"Webhook delivery: {USERS} endpoints, try.done events; delay = arrival at the receiver - commit (ms)",
        rows,
    )
    write_results("webhook_delivery", args, {"rows": rows})


if __name__ == "__main__":
    main()
