"""Per-step progress for a terminal watching a series: the events the web app gets, not the job
rows (a heartbeat writes those only to renew a lease). Workers on the postgres transport send
them as NOTIFY imagen_progress; workers on the supabase transport on the series' private
Broadcast topic, which the terminal joins with the service role."""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import random
import threading
from typing import Protocol

import psycopg

from imagen.config import Settings
from imagen.transports.postgres import PROGRESS_CHANNEL
from imagen.transports.progress import series_topic


class ProgressFeed(Protocol):
    def poll(self, timeout: float) -> list[dict]:
        """The progress payloads ({series_idx, step, steps, ...}) that arrive within `timeout`."""
        ...

    def close(self) -> None: ...


class NotifyFeed:
    def __init__(self, database_url: str, series_id: object) -> None:
        self.topic = series_topic(series_id)
        self.conn = psycopg.connect(database_url, autocommit=True)
        self.conn.execute(f"listen {PROGRESS_CHANNEL}")

    def poll(self, timeout: float) -> list[dict]:
        notes = (json.loads(n.payload) for n in self.conn.notifies(timeout=timeout))
        return [note["payload"] for note in notes if note.get("topic") == self.topic]

    def close(self) -> None:
        self.conn.close()


class BroadcastFeed:
    """realtime-py joined to the private topic on a loop of its own, and joined again (backing off
    from 1 to 30 s) whenever Realtime closes the channel or it fails: a restart, the project's
    quota ("Too many messages per second"), a lost socket."""

    def __init__(self, url: str, key: str, series_id: object, join_timeout: float = 10.0) -> None:
        from realtime import AsyncRealtimeClient

        self.received: queue.Queue[dict] = queue.Queue()
        self.topic = series_topic(series_id)
        self.rejoins = 0
        self._closed = False
        self._tasks: set[asyncio.Future] = set()
        self._channel = None  # the channel joined now
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="imagen-progress-feed", daemon=True)
        self._thread.start()
        self.client = AsyncRealtimeClient(f"{url.rstrip('/')}/realtime/v1", token=key)
        asyncio.run_coroutine_threadsafe(self._join(), self.loop).result(join_timeout)

    async def _join(self, attempt: int = 0) -> None:
        from realtime import RealtimeSubscribeStates as States

        if not self.client.is_connected:
            await self.client.connect()
        channel = self.client.channel(self.topic, {"config": {"broadcast": {"self": False}, "private": True}})
        channel.on_broadcast("progress", lambda message: self.received.put(message["payload"]))

        def on_state(state: States, _error: Exception | None) -> None:
            ended = state in (States.CLOSED, States.CHANNEL_ERROR, States.TIMED_OUT)
            if ended and self._channel is channel and not self._closed:
                self._channel = None  # its later last words start nothing more
                self._later(channel, attempt)

        self._channel = channel
        await channel.subscribe(on_state)

    async def _rejoin(self, old, attempt: int) -> None:
        await asyncio.sleep(min(30.0, 2.0**attempt) * random.uniform(0.5, 1.0))
        with contextlib.suppress(Exception):
            await self.client.remove_channel(old)
        if self._closed:
            return
        self.rejoins += 1
        try:
            await self._join(attempt + 1)
        except Exception:  # no socket yet: again, later
            self._later(old, attempt + 1)

    def _later(self, old, attempt: int) -> None:
        task = asyncio.ensure_future(self._rejoin(old, attempt))
        self._tasks.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._tasks.discard)

    def poll(self, timeout: float) -> list[dict]:
        try:
            out = [self.received.get(timeout=timeout)]
        except queue.Empty:
            return []
        while not self.received.empty():
            out.append(self.received.get_nowait())
        return out

    async def _shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.client.close()

    def close(self) -> None:
        self._closed = True
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


def open_feed(settings: Settings, series_id: object) -> ProgressFeed:
    """The feed the configured transport's workers send on."""
    if settings.transport == "supabase":
        from imagen.transports import supabase_credentials

        url, key = supabase_credentials(settings)
        return BroadcastFeed(url, key.get_secret_value(), series_id)
    return NotifyFeed(settings.require_database_url(), series_id)


def latest_steps(events: list[dict], steps: dict[int, int] | None = None) -> dict[int, int]:
    """series_idx → the highest step heard (events may arrive out of order)."""
    steps = dict(steps or {})
    for e in events:
        steps[e["series_idx"]] = max(steps.get(e["series_idx"], 0), e["step"])
    return steps
