"""Failures a hosted project produces, switchable on in tests: what PostgREST answers while it
reloads its schema cache or runs out of pool, what Postgres answers under the hosted 8 s statement
and lock timeouts or a restart, what the proxy in front answers (HTML error pages, rate limits),
what Storage answers when its database times out ("544", "423"), and a request that never
answers. Bodies and statuses follow PostgREST's docs/errors.rst and its SQLSTATE → HTTP table, and
Storage's error codes; none is a shape the real servers would not send.

A fault applies to the next `times` requests whose path starts with `path`. With `after`, the
request is carried out first and only its answer is replaced: the write happened, the caller
never learns it (a gateway timeout after the commit).
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass

from aiohttp import web


def postgrest_body(code: str, message: str) -> str:
    return json.dumps({"code": code, "details": None, "hint": None, "message": message})


def proxy_page(status: int, title: str) -> str:
    return f"<!DOCTYPE html><html><head><title>{status}: {title}</title></head><body><h1>{title}</h1></body></html>"


# kind -> (HTTP status, content type, body)
ANSWERS = {
    "PGRST002": (503, "application/json",
                 postgrest_body("PGRST002", "Could not query the database for the schema cache. Retrying.")),
    "PGRST003": (504, "application/json",
                 postgrest_body("PGRST003", "Timed out acquiring connection from connection pool.")),
    "57014": (500, "application/json", postgrest_body("57014", "canceling statement due to statement timeout")),
    "55P03": (500, "application/json", postgrest_body("55P03", "canceling statement due to lock timeout")),
    "57P01": (500, "application/json",
              postgrest_body("57P01", "terminating connection due to administrator command")),
    "429": (429, "text/html", proxy_page(429, "Too Many Requests")),
    "520": (520, "text/html", proxy_page(520, "Web server is returning an unknown error")),
    "522": (522, "text/html", proxy_page(522, "Connection timed out")),
    "524": (524, "text/html", proxy_page(524, "A timeout occurred")),
}  # fmt: skip
# Storage's own answers to a database that times out (supabase/storage: src/internal/errors/codes.ts,
# DatabaseTimeout and ResourceLocked, which Postgres' 57014 and 55P03 become), rendered by its
# error handler: HTTP 400, the code in the body's statusCode (storage_api.storage_error).
STORAGE_ANSWERS = {
    "544": (400, "application/json", json.dumps({"statusCode": "544", "code": "DatabaseTimeout",
                                                 "error": "DatabaseTimeout",
                                                 "message": "The connection to the database timed out"})),
    "423": (400, "application/json", json.dumps({"statusCode": "423", "code": "ResourceLocked",
                                                 "error": "ResourceLocked", "message": "The resource is locked"})),
}  # fmt: skip
HANG = "hang"
KINDS = (*ANSWERS, *STORAGE_ANSWERS, HANG)


@dataclass
class Fault:
    kind: str
    path: str
    times: int
    after: bool


class Faults:
    def __init__(self) -> None:
        self._pending: list[Fault] = []
        self._lock = threading.Lock()
        self.served: list[tuple[str, str]] = []  # (kind, path) of every fault answered

    def add(self, kind: str, path: str, times: int = 1, after: bool = False) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown fault {kind!r}: one of {', '.join(KINDS)}")
        with self._lock:
            self._pending.append(Fault(kind, path, times, after))

    def take(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._pending:
                if path.startswith(fault.path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._pending.remove(fault)
                    self.served.append((fault.kind, path))
                    return fault
        return None


FAULTS = web.AppKey("faults", Faults)


@web.middleware
async def inject_faults(request: web.Request, handler):
    fault = request.app[FAULTS].take(request.path)
    if fault is None:
        return await handler(request)
    if fault.after:
        await handler(request)
    if fault.kind == HANG:
        await asyncio.sleep(3600)  # until the client gives up (or the stand-in stops)
    status, content_type, body = {**ANSWERS, **STORAGE_ANSWERS}[fault.kind]
    return web.Response(status=status, text=body, content_type=content_type)
