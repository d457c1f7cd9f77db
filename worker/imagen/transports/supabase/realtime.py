"""Wake-up hints over Supabase Realtime: the 'queued' messages the database broadcasts on the
private topic imagen:worker whenever a statement queues tries (a trigger calls realtime.send;
only the service role may join the topic), plus the moments when a subscription (re)starts. It
works with the project set to private channels only. Events are only hints — the worker also
polls — so everything here is about never staying deaf for long:

- the callbacks only set an Event and cannot raise (an exception in a callback silently kills
  the client's listen task);
- the worker is woken on SUBSCRIBED (and on any `system` message);
- a watchdog rebuilds the client and channel when the socket is gone, the channel is errored
  or closed, the client's listen task died or gave up reconnecting, or the socket stops
  answering pings (a half-open socket is otherwise noticed only after ~40 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from realtime import AsyncRealtimeClient, RealtimeSubscribeStates

from imagen.transports.supabase.keys import is_jwt

log = logging.getLogger(__name__)
WORKER_TOPIC = "imagen:worker"  # supabase/schemas/70_realtime_storage.sql: imagen.jobs_broadcast_inserted
# websockets logs the handshake's request line at DEBUG, and the Realtime URL carries the
# service-role key as ?apikey=: never let that reach a log, whatever level the worker runs at.
logging.getLogger("websockets.client").setLevel(logging.INFO)


class RealtimeWakeups:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        url: str,
        key: str,
        wake: Callable[[], None],
        *,
        watchdog_interval: float = 5.0,
        ping_timeout: float = 5.0,
    ) -> None:
        self.loop = loop
        self.realtime_url = f"{url.rstrip('/')}/realtime/v1"
        self._key = key
        self.wake = wake
        self.watchdog_interval = watchdog_interval
        self.ping_timeout = ping_timeout
        self.client: AsyncRealtimeClient | None = None
        self.channel = None
        self.rebuilds = 0
        self.events = 0
        self._unhealthy_since: float | None = None
        self._poke: asyncio.Event | None = None  # set when the channel is closed or refused
        self._watchdog = asyncio.run_coroutine_threadsafe(self._watch(), loop)

    # -- callbacks: never raise ----------------------------------------------------------

    def hint(self, reason: str) -> None:
        self.wake()
        log.debug("wake-up: %s", reason)

    def _safe(self, reason: str):
        def callback(*_: object) -> None:
            try:
                if reason == "event":
                    self.events += 1
                self.hint(reason)
            except Exception:  # a raising callback would kill the client's listen task
                log.exception("wake-up callback failed")

        return callback

    def _on_state(self, state: RealtimeSubscribeStates, error: Exception | None) -> None:
        try:
            if state == RealtimeSubscribeStates.SUBSCRIBED:
                self.hint("subscribed")
            else:
                log.warning("realtime channel %s: %s", state.value, error)
                if self._poke is not None:  # closed or refused (the quota, a token): rebuild now
                    self._poke.set()
        except Exception:
            log.exception("subscribe callback failed")

    # -- building and watching ---------------------------------------------------------

    async def _build(self) -> None:
        client = AsyncRealtimeClient(self.realtime_url, token=self._key, max_retries=3, initial_backoff=0.5)
        if not is_jwt(self._key):
            client.access_token = None  # an opaque key is the socket's apikey, never a join's user token
        channel = client.channel(WORKER_TOPIC, {"config": {"private": True}})
        channel.on_broadcast("queued", self._safe("event"))
        channel.on_system(self._safe("system"))
        self.client, self.channel = client, channel
        await client.connect()
        await channel.subscribe(self._on_state)

    async def _teardown(self) -> None:
        client, self.client, self.channel = self.client, None, None
        if client is None:
            return
        ws, tasks = client._ws_connection, (client._listen_task, client._heartbeat_task)
        with contextlib.suppress(Exception):
            # A silent peer never answers the close handshake: don't wait for it.
            await asyncio.wait_for(client.close(), timeout=2)
        for task in tasks:
            if task is not None:
                task.cancel()
        if ws is not None:
            ws.transport.abort()

    async def _healthy(self) -> bool:
        client, channel = self.client, self.channel
        if client is None or channel is None or not client.is_connected:
            return False
        # The client keeps its socket and tasks private; they are the only way to see a dead
        # listen task or a socket that no longer answers.
        listen = client._listen_task
        if listen is None or listen.done():
            return False
        if channel.is_closed or channel.is_errored:
            return False
        ws = client._ws_connection
        try:
            pong = await ws.ping()
            await asyncio.wait_for(pong, self.ping_timeout)
        except Exception:
            return False
        return channel.is_joined or channel.is_joining

    def _ended(self) -> bool:
        """The channel was closed or refused: no waiting will make it join."""
        channel = self.channel
        return channel is not None and (channel.is_closed or channel.is_errored)

    async def _watch(self) -> None:
        self._poke = asyncio.Event()
        while True:
            try:
                if await self._healthy():
                    self._unhealthy_since = None
                else:
                    now = time.monotonic()
                    self._unhealthy_since = self._unhealthy_since or now
                    # A fresh client gets one interval to connect and join before it is replaced;
                    # a channel Realtime closed or refused is rebuilt at once.
                    waited = now - self._unhealthy_since >= self.watchdog_interval
                    if self.client is None or waited or self._ended():
                        await self._rebuild()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("realtime watchdog")
            self._poke.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), self.watchdog_interval)

    async def _rebuild(self) -> None:
        if self.client is not None:
            log.warning("realtime connection unhealthy, rebuilding the client")
        await self._teardown()
        self.rebuilds += 1
        self._unhealthy_since = None
        self.hint("rebuild")  # anything queued while deaf
        try:
            await asyncio.wait_for(self._build(), timeout=max(10.0, 2 * self.watchdog_interval))
        except Exception as exc:
            log.warning("realtime connect failed (the poll timer covers it): %s", exc)

    def close(self) -> None:
        self._watchdog.cancel()
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._teardown(), self.loop).result(5)
