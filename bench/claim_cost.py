"""Claim cost: the median time of one claim_job with a long queue spread over many users, fair
turns (the current claim: the owner served least recently first) against the previous FIFO claim
(queue order only), both timed on the same database, interleaved, as the service role."""

from __future__ import annotations

import time

import psycopg

from bench.common import bench_database, parser, print_table, summary_ms, write_results
from imagen.console.users import as_user, ensure_user

# The claim as it was before fair turns (20261128080200_imagen_queue_order.sql), with the index
# it used: the same expired-lease sweep, then the first queued try in queue order.
FIFO_CLAIM = """
create schema bench_fifo;
create index bench_fifo_claim_idx on imagen.jobs (queued_at, series_idx) where status = 'queued';
create function bench_fifo.claim_job(worker_id text, lease_seconds double precision default 60)
returns setof imagen.jobs
language plpgsql
set search_path = ''
as $$
begin
  update imagen.jobs j
  set status = case when j.cancel_requested then 'cancelled' when j.attempts >= j.max_attempts then 'failed'
                    else 'queued' end,
      error = case when j.attempts >= j.max_attempts and not j.cancel_requested
                   then format('the worker rendering it stopped answering (%s of %s attempts)', j.attempts,
                               j.max_attempts)
                   else j.error end,
      finished_at = case when j.cancel_requested or j.attempts >= j.max_attempts then now() end,
      lease_expires_at = null
  where j.id in (
    select e.id from imagen.jobs e where e.status = 'running' and e.lease_expires_at < now()
    for update skip locked
  );
  return query
  update imagen.jobs j
  set status = 'running', attempts = j.attempts + 1, leased_by = claim_job.worker_id,
      lease_expires_at = now() + make_interval(secs => lease_seconds), progress = 0, started_at = now()
  where j.id = (
    select q.id from imagen.jobs q
    where q.status = 'queued' and q.run_after <= now()
    order by q.queued_at, q.series_idx
    limit 1
    for update skip locked
  )
  returning j.*;
end;
$$;
grant usage on schema bench_fifo to service_role;
grant execute on function bench_fifo.claim_job(text, double precision) to service_role;
"""

CLAIMS = {"fair turns": "imagen.claim_job", "previous FIFO": "bench_fifo.claim_job"}


def queue(url: str, users: int, per_user: int) -> None:
    """Each user queues per_user tries in series of 10; the users' series interleaved in time."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("update imagen.limits set max_unfinished_tries = 1000000 where owner_id is null")
        conn.execute(FIFO_CLAIM)
        ids = [ensure_user(conn, f"bench{i}@imagen.local") for i in range(users)]
        for _ in range(per_user // 10):
            for user in ids:
                with as_user(conn, user):
                    conn.execute("select imagen.create_series('bench', 10, width => 256, height => 256)")
        conn.execute("analyze imagen.jobs")
        conn.execute("analyze imagen.owner_turns")


def measure(url: str, claims: int, warmup: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in CLAIMS}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("set role service_role")
        for n in range(warmup + claims):
            for name, fn in CLAIMS.items():
                started = time.perf_counter()
                row = conn.execute(f"select id from {fn}('bench', 60)").fetchone()
                elapsed = time.perf_counter() - started
                assert row is not None, "the queue ran dry"
                if n >= warmup:
                    times[name].append(elapsed)
    return times


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__).parse_args(argv)
    users, per_user, claims, warmup = (10, 20, 40, 10) if args.smoke else (100, 100, 1000, 200)
    with bench_database() as (url, _):
        queue(url, users, per_user)
        times = measure(url, claims, warmup)
    rows = [{"claim": name, "queued": users * per_user, "users": users, **summary_ms(t)} for name, t in times.items()]
    ratio = rows[0]["p50_ms"] / rows[1]["p50_ms"]
    print_table(
        f"Claim cost: {users * per_user} tries queued by {users} users (series of 10), "
        f"{claims} claims of each kind, interleaved",
        rows,
    )
    print(f"\nfair / FIFO median claim time: {ratio:.2f}x (goal <= 2x)")
    write_results("claim_cost", args, {"fair": rows[0], "fifo": rows[1], "median_ratio": ratio})


if __name__ == "__main__":
    main()
