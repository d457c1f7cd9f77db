"""A connection to a Supabase project with the service-role key: the official async client on
an event loop thread of its own, so the synchronous worker can call it from any thread."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
from postgrest.exceptions import APIError
from pydantic import SecretStr
from supabase import AsyncClient, acreate_client

from imagen.jobs import LeaseLost

log = logging.getLogger(__name__)
T = TypeVar("T")

LEASE_LOST = "IL001"


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: the network, a gateway, or the database being briefly away."""
    if isinstance(exc, httpx.TransportError):
        return True
    if isinstance(exc, APIError):
        code = str(exc.code or "")
        return code.startswith(("08", "53", "57P")) or code in ("", "502", "503", "504", "PGRST000", "PGRST001")
    return False


class SupabaseProject:
    def __init__(self, url: str, service_role_key: SecretStr, request_timeout: float = 30) -> None:
        self.url = url.rstrip("/")
        self.key = service_role_key
        self.request_timeout = request_timeout
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="imagen-supabase", daemon=True)
        self._thread.start()
        self.stopping = threading.Event()
        self.client: AsyncClient = self.run(acreate_client(self.url, self.key.get_secret_value()))

    def run(self, coro: Awaitable[T], timeout: float | None = None) -> T:
        """Runs a coroutine on the project's loop and waits for it (from any other thread)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout or self.request_timeout)

    def call(self, make: Callable[[], Awaitable[T]], what: str, *, retry: bool = True) -> T:
        """Runs make() with backoff while the failure is transient; maps the worker SQLSTATEs."""
        delay = 0.1
        while True:
            try:
                return self.run(make())
            except APIError as exc:
                if exc.code == LEASE_LOST:
                    raise LeaseLost(exc.message) from exc
                if not (retry and is_transient(exc)) or self.stopping.is_set():
                    raise
                error = exc
            except Exception as exc:
                if not (retry and is_transient(exc)) or self.stopping.is_set():
                    raise
                error = exc
            log.warning("%s failed, retrying in %.1fs: %s", what, delay, error)
            self.stopping.wait(delay)
            delay = min(delay * 2, 5.0)

    async def rpc(self, fn: str, params: dict) -> object:
        response = await self.client.schema("imagen").rpc(fn, params).execute()
        return response.data

    def close(self) -> None:
        self.stopping.set()
        try:
            self.run(self._close_clients(), timeout=5)
        except Exception as exc:  # closing is best effort; the process may be exiting
            log.debug("closing the Supabase client: %s", exc)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()

    async def _close_clients(self) -> None:
        await self.client.postgrest.aclose()
        await self.client.storage.session.aclose()
        # Whatever else still runs on this loop (realtime tasks) ends with it.
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
