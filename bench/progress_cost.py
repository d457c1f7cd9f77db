"""What live progress costs, before and after it moved to Broadcast: database row writes per try,
and Realtime messages per try per subscribed user, with 1, 10 and 100 users subscribed, through
the stand-ins (PostgREST, Realtime with its walrus-like RLS check per subscriber, Storage).

before: the landed heartbeat (migration 20261128080300) every 0.25 s, each one an UPDATE of the
        job row, which Realtime decodes and checks against every subscriber's RLS.
after:  a heartbeat once a second that only reads, and writes only to renew a lease with less
        than half left (20261128110000); each step's progress, with its preview, on the series'
        private Broadcast topic.

One user owns a series rendered by a real worker on the supabase transport (the tiny model,
slowed to a GPU-like pace per step). Every user, the owner included, subscribes as a browser
does: Postgres Changes on imagen.jobs (RLS filters) and a private join of the owner's topic
(refused for the others by the RLS policy on realtime.messages). Row writes are counted by a
trigger on every imagen table; messages by each client."""

from __future__ import annotations

import re
import time
from pathlib import Path

import psycopg
from realtime import AsyncRealtimeClient

from bench.common import bench_database, check_goal, loop_on_a_thread, parser, print_table, subscribe_all, write_results
from imagen.config import load_settings
from imagen.console.users import as_user, ensure_user
from imagen.dev.supabase_standin import SupabaseStandIn
from imagen.dev.tiny_models import tiny_path
from imagen.loop.worker import Worker
from imagen.rendering.render import DiffusersRenderer
from imagen.transports import open_progress, open_transport

MIGRATIONS = Path(__file__).resolve().parents[1] / "supabase/migrations"
BEFORE_HEARTBEAT = MIGRATIONS / "20261128080300_imagen_series_delete.sql"
AFTER_HEARTBEAT = MIGRATIONS / "20261128110000_imagen_quiet_heartbeat.sql"

COUNT_WRITES = """
create unlogged table if not exists public.bench_writes (tbl text, op text);
create or replace function public.bench_count_write() returns trigger language plpgsql security definer
set search_path = '' as $$
begin
  insert into public.bench_writes values (tg_table_name, tg_op);
  return null;
end $$;
"""


def heartbeat_function(migration: Path) -> str:
    """The `create or replace function imagen.heartbeat_job` statement of a migration."""
    found = re.search(r"create or replace function imagen\.heartbeat_job\(.*?\n\$\$;", migration.read_text(), re.S)
    assert found, f"no heartbeat_job in {migration.name}"
    return found.group(0)


def count_writes_on_every_imagen_table(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(COUNT_WRITES)
        tables = [r[0] for r in conn.execute("select tablename from pg_tables where schemaname = 'imagen'")]
        for table in tables:
            conn.execute(f"drop trigger if exists bench_count on imagen.{table}")
            conn.execute(f"create trigger bench_count after insert or update or delete on imagen.{table} "
                         "for each row execute function public.bench_count_write()")  # fmt: skip


class PacedRenderer:
    """The tiny model, each step stretched to `step_s` (a GPU-like render length on a CPU model)."""

    def __init__(self, inner: DiffusersRenderer, step_s: float) -> None:
        self.inner, self.model, self.device, self.step_s = inner, inner.model, inner.device, step_s

    def render(self, job, on_step=None):
        def paced(step: int, latents=None, **shown) -> bool:
            time.sleep(self.step_s)
            return on_step(step, latents, **shown) if on_step is not None else True

        return self.inner.render(job, paced)


class Subscriber:
    """One user's browser: Postgres Changes on imagen.jobs, and a private join of `topic`."""

    def __init__(self, standin: SupabaseStandIn, token: str, topic: str) -> None:
        self.client = AsyncRealtimeClient(f"{standin.url}/realtime/v1", token=token)
        self.topic, self.changes, self.broadcasts, self.joined = topic, 0, 0, False

    async def join(self) -> None:
        await self.client.connect()
        changes = self.client.channel(f"jobs-{id(self)}")
        changes.on_postgres_changes("*", schema="imagen", table="jobs", callback=self._on_change)
        progress = self.client.channel(self.topic, {"config": {"private": True}})
        progress.on_broadcast("progress", self._on_broadcast)
        states = await subscribe_all([changes, progress])
        self.joined = states[1].value == "SUBSCRIBED"

    def _on_change(self, *_: object) -> None:
        self.changes += 1

    def _on_broadcast(self, *_: object) -> None:
        self.broadcasts += 1

    def reset(self) -> None:
        self.changes = self.broadcasts = 0


def render_while_watched(url: str, standin: SupabaseStandIn, renderer, mode: str, tries: int) -> float:
    """One worker renders the series (after the write counter is reset); its wall seconds."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("truncate public.bench_writes")
    settings = load_settings(
        transport="supabase", supabase_url=standin.url, supabase_service_role_key=standin.keys.service_role,
        worker_id=f"bench-{mode}", heartbeat_interval=0.25 if mode == "before" else 1.0, lease_seconds=60,
        model="tiny",  # the tries' model: the worker claims only its own
    )  # fmt: skip
    queue, storage = open_transport(settings)
    progress = open_progress(queue) if mode == "after" else None
    try:
        worker = Worker(queue, storage, renderer, poll_interval=0.5, heartbeat_interval=settings.heartbeat_interval,
                        progress=progress)  # fmt: skip
        started = time.perf_counter()
        stats = worker.run(burst=True)
        wall = time.perf_counter() - started
    finally:
        if progress is not None:
            progress.close()
        queue.close()
    assert stats.done == tries, stats
    return wall


def run_case(url: str, standin: SupabaseStandIn, renderer, mode: str, users: int, tries: int, steps: int) -> dict:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(heartbeat_function(BEFORE_HEARTBEAT if mode == "before" else AFTER_HEARTBEAT))
        people = [ensure_user(conn, f"watcher{n}@imagen.local") for n in range(users)]
        with as_user(conn, people[0]):
            series = conn.execute(
                "select imagen.create_series('a lighthouse', %s, jsonb_build_object('model', 'tiny', 'width', 256,"
                " 'height', 256, 'steps', %s::int))", (tries, steps)).fetchone()[0]  # fmt: skip
    topic = f"series:{series['id']}"
    with loop_on_a_thread() as run:
        watchers = [Subscriber(standin, standin.keys.user(p), topic) for p in people]
        run(*(w.join() for w in watchers))
        time.sleep(0.5)
        for w in watchers:
            w.reset()
        wall = render_while_watched(url, standin, renderer, mode, tries)
        time.sleep(1.0)  # the last changes and broadcasts reach the sockets
        run(*(w.client.close() for w in watchers))
    with psycopg.connect(url, autocommit=True) as conn:
        kinds = conn.execute("select tbl || ' ' || lower(op), count(*) from public.bench_writes group by 1 order by 1")
        by_kind = dict(kinds.fetchall())
    writes = sum(by_kind.values())
    owner, others = watchers[0], watchers[1:]
    render_s = wall / tries
    return {
        "mode": mode,
        "users": users,
        "render_s": render_s,
        "row_writes_per_try": writes / tries,
        "goal": 4 + render_s / 5,
        "owner_changes_per_try": owner.changes / tries,
        "owner_broadcasts_per_try": owner.broadcasts / tries,
        "max_msgs_to_a_non_owner": max((w.changes + w.broadcasts for w in others), default=0),
        "non_owners_joined": sum(w.joined for w in others),
        "msgs_sent_per_try": sum(w.changes + w.broadcasts for w in watchers) / tries,
        # Realtime checks each published row change against every subscriber's RLS; a Broadcast
        # topic is authorised once, at join.
        "rls_checks_per_try": by_kind.get("jobs update", 0) / tries * users,
        "writes": ", ".join(f"{kind} {n / tries:g}" for kind, n in by_kind.items()),
    }


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__).parse_args(argv)
    user_counts, tries, steps, step_s = ((2,), 1, 4, 0.05) if args.smoke else ((1, 10, 100), 3, 10, 0.2)
    renderer = PacedRenderer(DiffusersRenderer(str(tiny_path("tiny")), device="cpu"), step_s)
    rows = []
    with bench_database() as (url, _user):
        count_writes_on_every_imagen_table(url)
        with SupabaseStandIn(url) as standin:
            for users in user_counts:
                for mode in ("after",) if args.smoke else ("before", "after"):
                    rows.append(run_case(url, standin, renderer, mode, users, tries, steps))
                    print_table("so far", rows[-1:])
    title = (f"Live progress: row writes and Realtime messages per try ({tries} tries of {steps} steps, "
             f"{step_s * 1000:.0f} ms a step), through the stand-ins")  # fmt: skip
    print_table(title, rows)
    after = [r for r in rows if r["mode"] == "after"]
    within = sum(r["row_writes_per_try"] <= r["goal"] for r in after)
    to_others = max(r["max_msgs_to_a_non_owner"] for r in rows)
    print(f"\nafter: row writes per try within 4 + render_s/5 in {within} of {len(after)} cases; "
          f"messages to non-owners: {to_others} at most")  # fmt: skip
    check_goal("progress_cost", "cases with row writes a try <= 4 + render s / 5", within, f"{len(after)}",
               within == len(after))  # fmt: skip
    check_goal("progress_cost", "messages to a non-owner", to_others, "0", to_others == 0)
    write_results("progress_cost", args, {"tries": tries, "steps": steps, "step_s": step_s, "rows": rows})


if __name__ == "__main__":
    main()
