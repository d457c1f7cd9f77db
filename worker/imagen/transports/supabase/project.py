"""A connection to a Supabase project with its secret (or legacy service-role) key: the official
async client on an event loop thread of its own, so the synchronous worker can call it from any
thread."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
from postgrest.exceptions import APIError
from pydantic import SecretStr
from storage3.exceptions import StorageApiError
from supabase import AsyncClient, acreate_client

from imagen.transports.rpcs import NETWORK, RpcError
from imagen.transports.supabase.keys import is_jwt, key_headers

log = logging.getLogger(__name__)
T = TypeVar("T")


def as_rpc_error(exc: Exception) -> RpcError:
    """One shape for every failure of the official clients; RpcError says if it is transient."""
    if isinstance(exc, APIError):  # PostgREST's code, a SQLSTATE, or the HTTP status of a proxy's page
        if not exc.code and "API key" in f"{exc.message} {exc.hint}":  # the gateway's 401, which has no code
            return RpcError("401", exc.message or str(exc))
        return RpcError(str(exc.code or ""), exc.message or str(exc))
    if isinstance(exc, StorageApiError):  # Storage: the HTTP status tells
        return RpcError(str(exc.status), exc.message)
    if isinstance(exc, httpx.TransportError | TimeoutError):  # no answer at all
        return RpcError(NETWORK, str(exc) or type(exc).__name__)
    return RpcError(type(exc).__name__, str(exc))


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
        if not is_jwt(self.key.get_secret_value()):
            # supabase-py sends its key as a bearer too; an opaque key belongs on apikey alone (the
            # PostgREST and Storage clients are made later, from these headers).
            self.client.options.headers.pop("Authorization", None)
        self._http: httpx.AsyncClient | None = None  # for Realtime's broadcast API

    def run(self, coro: Awaitable[T], timeout: float | None = None) -> T:
        """Runs a coroutine on the project's loop and waits for it (from any other thread)."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout or self.request_timeout)
        except TimeoutError:
            future.cancel()  # a request that hangs must not linger on the loop
            raise

    def call(self, make: Callable[[], Awaitable[T]]) -> T:
        """Runs make() once; any failure becomes an RpcError that says whether it is transient."""
        try:
            return self.run(make())
        except Exception as exc:
            raise as_rpc_error(exc) from exc

    async def rpc(self, fn: str, params: dict) -> object:
        response = await self.client.schema("imagen").rpc(fn, params).execute()
        return response.data

    async def broadcast(self, messages: list[dict]) -> None:
        """Realtime's HTTP broadcast API with the service role (which may send to private topics)."""
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.request_timeout)
        response = await self._http.post(
            f"{self.url}/realtime/v1/api/broadcast",
            json={"messages": messages},
            headers=key_headers(self.key.get_secret_value()),
        )
        if response.status_code >= 400:
            raise APIError({"code": str(response.status_code), "message": response.text[:200]})

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
        if self._http is not None:
            await self._http.aclose()
        await self.client.postgrest.aclose()
        await self.client.storage.session.aclose()
        # Whatever else still runs on this loop (realtime tasks) ends with it.
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
