"""Realtime messages per finished try for one viewer, end to end through the stand-ins: a series
rendered by a real worker on the supabase transport (the tiny model, each step stretched to the
H200's FLUX.1-schnell pace), watched by one browser-like viewer subscribed as the web app of the
checked-out code subscribes (bench.realtime_quota --per-try).

Before (issue 33): the page followed Postgres Changes on imagen.jobs and imagen.series (a public
channel) plus the series' private topic for progress, and the worker woke on Postgres Changes
INSERTs. After: one private topic per series, to which the database itself broadcasts a try's
state changes (realtime.send in triggers), progress included, and a private worker topic. Which
one runs is read from the database: Imagen's tables in the supabase_realtime publication = before.

Counted: what the viewer receives, what the worker's wake-up channel receives, and what Realtime
counts against the project's quota (each broadcast once sent and once per channel it reaches;
Postgres Changes once per delivery), each divided by the finished tries."""

from __future__ import annotations

import time

import psycopg
from realtime import AsyncRealtimeClient

from bench.common import loop_on_a_thread, subscribe_all, wait_for
from imagen.config import load_settings
from imagen.console.users import as_user, ensure_user
from imagen.dev.supabase_standin import SupabaseStandIn
from imagen.loop.worker import Worker
from imagen.transports import open_progress, open_transport

STEP_S = 0.126  # FLUX.1-schnell 1024² on the H200 (bench/RESULTS.md §4)


class Viewer:
    """One browser on the series page: the channels the web app of this code joins."""

    def __init__(self, standin: SupabaseStandIn, token: str, series_id: str, postgres_changes: bool) -> None:
        self.client = AsyncRealtimeClient(f"{standin.url}/realtime/v1", token=token)
        self.series_id, self.postgres_changes = series_id, postgres_changes
        self.by_kind: dict[str, int] = {}

    def _count(self, message: dict) -> None:
        # A broadcast's event, or a Postgres change's table and type.
        change = message.get("data") or {}
        kind = message.get("event") or f"{change.get('table')} {str(change.get('type')).lower()}"
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1

    @property
    def received(self) -> int:
        return sum(self.by_kind.values())

    async def join(self) -> None:
        await self.client.connect()
        series = self.client.channel(f"series:{self.series_id}", {"config": {"private": True}})
        for event in ("try", "tries_added", "series", "progress"):
            series.on_broadcast(event, self._count)
        channels = [series]
        if self.postgres_changes:  # web/src/views/series-live.ts before issue 33
            rows = self.client.channel(f"imagen-series-rows:{self.series_id}")
            only_this = f"series_id=eq.{self.series_id}"
            rows.on_postgres_changes("INSERT", schema="imagen", table="jobs", filter=only_this, callback=self._count)
            rows.on_postgres_changes("UPDATE", schema="imagen", table="jobs", filter=only_this, callback=self._count)
            rows.on_postgres_changes("UPDATE", schema="imagen", table="series", filter=f"id=eq.{self.series_id}",
                                     callback=self._count)  # fmt: skip
            channels.append(rows)
        states = await subscribe_all(channels)
        assert all(s.value == "SUBSCRIBED" for s in states), states


def published(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute("select 1 from pg_publication_tables where pubname = 'supabase_realtime'"
                             " and schemaname = 'imagen' and tablename = 'jobs'").fetchone()  # fmt: skip
    return found is not None


def measure(url: str, renderer, tries: int, steps: int) -> dict:
    """One series of `tries`, one viewer, one worker; the counts per finished try."""
    before = published(url)
    with SupabaseStandIn(url) as standin, psycopg.connect(url, autocommit=True) as conn:
        owner = ensure_user(conn, "viewer@imagen.local")
        key = standin.keys.service_role
        settings = load_settings(transport="supabase", supabase_url=standin.url, model="tiny",
                                 supabase_service_role_key=key, worker_id="bench-per-try")  # fmt: skip
        queue, storage = open_transport(settings)
        wait_for(queue.connector.is_listening, 20)
        realtime = standin.realtime
        counted_at_start = realtime.events.total + realtime.db_events.total
        woken_at_start = queue.connector.wakeups.events
        with as_user(conn, owner):
            series = conn.execute(
                "select imagen.create_series('a lighthouse', %s, jsonb_build_object('model', 'tiny', 'width', 256,"
                " 'height', 256, 'steps', %s::int))", (tries, steps)).fetchone()[0]  # fmt: skip
        with loop_on_a_thread() as run:
            viewer = Viewer(standin, standin.keys.user(owner), str(series["id"]), postgres_changes=before)
            run(viewer.join(), timeout=30)
            progress = open_progress(queue)
            try:
                stats = Worker(queue, storage, renderer, poll_interval=0.5, progress=progress).run(burst=True)
            finally:
                progress.close()
                time.sleep(1.0)  # the last changes and broadcasts reach the sockets
                woken = queue.connector.wakeups.events - woken_at_start
                queue.close()
            counted = realtime.events.total + realtime.db_events.total - counted_at_start
            run(viewer.client.close(), timeout=10)
    assert stats.done == tries, stats
    return {
        "mode": "before" if before else "after",
        "private only": standin.realtime.limits.private_only,
        "tries": tries,
        "to the viewer / try": round(viewer.received / tries, 2),
        "to the worker / try": round(woken / tries, 2),
        "counted by Realtime / try": round(counted / tries, 2),
        "the viewer's, by kind / try": ", ".join(f"{k} {n / tries:g}" for k, n in sorted(viewer.by_kind.items())),
    }
