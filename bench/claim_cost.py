"""Claim cost: the median time of one claim_job as idle owners pile up, the claim before issue 23
(it walked every owner in turn order and probed each one's tries, so owners served long ago with
nothing queued were probed on every claim) against the claim now (only owners with queued tries
are walked), with the previous FIFO claim (queue order only, no turns) beside them. Each size:
100 active owners with 10 tries queued each and 0 / 1,000 / 10,000 / 100,000 idle owners (served
before the active ones, nothing queued). "before" runs on a database migrated to the migration
before 20261129200000_imagen_idle_owners_free, "now" on one migrated to the end; the claims are
timed interleaved, as the service role. The server skips fsync: a commit's disk flush costs every
claim the same, and on a shared machine it swamps the claim's own work that idle owners change."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import psycopg

from bench.common import check_goal, parser, print_table, summary_ms, write_results
from imagen.console.users import as_user, ensure_user
from imagen.db.migrate import DEFAULT_MIGRATIONS_DIR, migrate
from imagen.dev.embedded_postgres import EmbeddedPostgres

# The first migration of the claim that ignores idle owners: "before" stops short of it.
IDLE_FREE_CLAIM = "20261129200000"

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

# Idle owners: users served a day ago (before every active owner) with nothing queued.
ADD_IDLE_OWNERS = """
with made as (
  insert into auth.users (id, email)
  select gen_random_uuid(), format('idle%%s@imagen.local', i)
  from generate_series(%(first)s::integer, %(last)s::integer) i
  returning id
)
insert into imagen.owner_turns (owner_id, last_claimed_at, first_queued_at)
select id, now() - interval '1 day' + random() * interval '1 hour', now() - interval '2 days' from made
"""


def databases(pg: EmbeddedPostgres, idle_sizes: tuple[int, ...]) -> dict[tuple[str, int], str]:
    """(version, idle owners) -> a database of its own on one cluster: "before" migrated to just
    before IDLE_FREE_CLAIM, "now" a copy of it migrated to the end."""
    with tempfile.TemporaryDirectory() as older:
        for path in sorted(DEFAULT_MIGRATIONS_DIR.glob("*.sql")):
            if path.name < IDLE_FREE_CLAIM:
                shutil.copy(path, Path(older) / path.name)
        migrate(pg.url(), Path(older))
    urls = {}
    with psycopg.connect(pg.admin_url("template1"), autocommit=True) as conn:
        for version in ("before", "now"):
            for idle in idle_sizes:
                name = f"claim_{version}_{idle}"
                conn.execute(f"create database {name} template postgres owner postgres")
                urls[version, idle] = pg.url(name)
    for (version, _), url in urls.items():
        if version == "now":
            migrate(url)
    return urls


def prepare(url: str, fifo: bool, active: int, per_user: int, idle: int) -> None:
    """active owners with per_user tries queued each (series of 10, the owners' series interleaved
    in time), and idle owners who were served before them and have nothing queued."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("update imagen.limits set max_unfinished_tries = 1000000 where owner_id is null")
        if fifo:
            conn.execute(FIFO_CLAIM)
        if idle:
            conn.execute(ADD_IDLE_OWNERS, {"first": 1, "last": idle})
        users = [ensure_user(conn, f"bench{i}@imagen.local") for i in range(active)]
        for _ in range(per_user // 10):
            for user in users:
                with as_user(conn, user):
                    conn.execute("""select imagen.create_series('bench', 10, '{"width": 256, "height": 256}')""")
        conn.execute("vacuum analyze imagen.jobs, imagen.owner_turns")


def measure(claims: dict[tuple, tuple[str, str]], count: int, warmup: int) -> dict[tuple, list[float]]:
    """claims: name -> (database url, claim function); one claim of each per round, so the load of
    the machine at any moment falls on every kind and size alike."""
    conns = {name: psycopg.connect(url, autocommit=True) for name, (url, _) in claims.items()}
    times: dict[tuple, list[float]] = {name: [] for name in claims}
    try:
        for conn in conns.values():
            conn.execute("set role service_role")
        for n in range(warmup + count):
            for name, (_, fn) in claims.items():
                started = time.perf_counter()
                row = conns[name].execute(f"select id from {fn}('bench', 60)").fetchone()
                elapsed = time.perf_counter() - started
                assert row is not None, "the queue ran dry"
                if n >= warmup:
                    times[name].append(elapsed)
    finally:
        for conn in conns.values():
            conn.close()
    return times


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__).parse_args(argv)
    if args.smoke:
        active, per_user, idle_sizes, count, warmup = 5, 10, (0, 100), 10, 2
    else:
        active, per_user, idle_sizes, count, warmup = 100, 10, (0, 1_000, 10_000, 100_000), 400, 50
    with EmbeddedPostgres(durable=False) as pg:
        urls = databases(pg, idle_sizes)
        for (version, idle), url in urls.items():
            prepare(url, version == "now", active, per_user, idle)
        claims = {}
        for idle in idle_sizes:
            claims["before", idle] = (urls["before", idle], "imagen.claim_job")
            claims["now", idle] = (urls["now", idle], "imagen.claim_job")
            claims["FIFO", idle] = (urls["now", idle], "bench_fifo.claim_job")
        times = measure(claims, count, warmup)
    rows = [{"idle_owners": idle, "claim": name, **summary_ms(t)} for (name, idle), t in times.items()]
    print_table(
        f"Claim cost: {active} active owners with {per_user} tries queued each, idle owners beside them; "
        f"{count} claims of each kind and size, all interleaved",
        rows,
    )
    p50 = {(r["claim"], r["idle_owners"]): r["p50_ms"] for r in rows}
    ratios = {idle: p50["now", idle] / p50["now", 0] for idle in idle_sizes}
    for idle in idle_sizes:
        print(f"{idle:>7} idle owners: now {ratios[idle]:.2f}x its no-idle median (goal <= 1.2x), "
              f"before {p50['before', idle] / p50['before', 0]:.2f}x; "
              f"now / FIFO {p50['now', idle] / p50['FIFO', idle]:.2f}x")  # fmt: skip
    for idle in idle_sizes:
        if idle:
            check_goal("claim_cost", f"claim p50 at {idle} idle owners / at 0", ratios[idle], "<= 1.2x",
                       ratios[idle] <= 1.2)  # fmt: skip
    write_results("claim_cost", args, {"rows": rows, "now_ratio_to_no_idle": ratios})


if __name__ == "__main__":
    main()
