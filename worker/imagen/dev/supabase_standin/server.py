"""The stand-in server: Auth + PostgREST + Storage + Realtime on one random 127.0.0.1 port, run on
its own event loop thread so synchronous tests and workers can use it like a remote project."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import threading

from aiohttp import web
from multidict import CIMultiDict
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from imagen.dev.mail_catcher import MailCatcher
from imagen.dev.supabase_standin import auth, auth_limits, auth_links, auth_mail, postgrest, storage_api
from imagen.dev.supabase_standin.app_keys import AUTH_POOL, BLOB_ROOT, CLAIMS, EXPOSED, KEYS, POOL, ROW_CAP, RowCap
from imagen.dev.supabase_standin.db import ConnectionPool
from imagen.dev.supabase_standin.faults import FAULTS, Faults, inject_faults
from imagen.dev.supabase_standin.keys import (
    INVALID_API_KEY,
    NO_API_KEY,
    GatewayRefusal,
    InvalidToken,
    ProjectKeys,
    forwarded_token,
)
from imagen.dev.supabase_standin.realtime import Realtime
from imagen.dev.supabase_standin.realtime_limits import RealtimeLimits
from imagen.dev.temp_folders import own_temp_folder

# What the gateway lets a browser send and read: the headers supabase-js sends (its cors.ts, and
# postgrest-js's x-retry-count), and those GoTrue and PostgREST expose (GoTrue's cors.New in
# internal/api/api.go: X-Total-Count, Link, X-Supabase-Api-Version; PostgREST: Content-Range).
CORS_ALLOW_HEADERS = ("authorization", "apikey", "content-type", "x-client-info", "x-supabase-api-version",
                      "accept-profile", "content-profile", "prefer", "range", "x-upsert", "cache-control",
                      "x-retry-count")  # fmt: skip
CORS_ALLOW_METHODS = "GET, HEAD, PUT, PATCH, POST, DELETE, OPTIONS"
CORS_EXPOSE_HEADERS = "Content-Range, Range-Unit, Location, X-Total-Count, Link, X-Supabase-Api-Version"


@web.middleware
async def cors(request: web.Request, handler):
    """The gateway's CORS (Kong's cors plugin): it answers every preflight itself, 200, allowing any
    origin, the methods and the headers asked for (those supabase-js sends at least)."""
    if request.method != "OPTIONS":
        return await handler(request)
    asked = [h.strip().lower() for h in request.headers.get("Access-Control-Request-Headers", "").split(",")]
    allowed = list(dict.fromkeys([*CORS_ALLOW_HEADERS, *(h for h in asked if h)]))
    return web.Response(status=200, headers={
        "Access-Control-Allow-Methods": CORS_ALLOW_METHODS,
        "Access-Control-Allow-Headers": ", ".join(allowed),
        "Access-Control-Max-Age": "3600",
    })  # fmt: skip


async def cors_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer, errors and the WebSocket upgrade included, may be read by any origin."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSE_HEADERS


def gateway_error(message: str, hint: str) -> web.Response:
    return web.json_response({"message": message, "hint": hint}, status=401)


@web.middleware
async def authenticate(request: web.Request, handler):
    """Verifies the JWT (Authorization, else apikey) as the API gateway and PostgREST do."""
    if request.path == "/auth/v1/verify":  # the gateway's open route: a mail's link carries no key
        return await handler(request)
    try:
        token = forwarded_token(
            request.app[KEYS], request.headers.get("Authorization", ""),
            request.headers.get("apikey") or request.query.get("apikey"),
        )  # fmt: skip
    except GatewayRefusal as refused:
        return gateway_error(*refused.args)
    if request.path.startswith("/auth/v1/"):
        # The gateway's key-auth wants only the project's apikey (header or query); Auth itself
        # reads the Authorization header where an endpoint needs a user.
        key = request.headers.get("apikey") or request.query.get("apikey")
        if not key:
            return gateway_error(*NO_API_KEY)
        try:
            role = request.app[KEYS].verify(request.app[KEYS].gateway_token(key) or "")["role"]
        except InvalidToken:
            role = None
        if role not in ("anon", "service_role"):
            return gateway_error(*INVALID_API_KEY)
        # What Auth reads as the caller: an opaque key's role JWT in place of the key itself.
        opaque = request.headers.get("Authorization", "").startswith("Bearer sb_") or key.startswith("sb_")
        if opaque and token and request.headers.get("Authorization") != f"Bearer {token}":
            headers = CIMultiDict(request.headers)
            headers["Authorization"] = f"Bearer {token}"
            request = request.clone(headers=headers)
        return await handler(request)
    if request.path.startswith("/realtime/") or (
        request.method == "GET" and request.path.startswith("/storage/v1/object/sign/")
    ):
        return await handler(request)
    if not token:
        return postgrest.error(401, "PGRST302", "No API key found in request")
    try:
        request[CLAIMS] = request.app[KEYS].verify(token)
    except InvalidToken as exc:
        return postgrest.error(401, "PGRST301", f"JWT invalid: {exc}")
    return await handler(request)


STORAGE_PREFIX = "imagen-standin-storage-"


class SupabaseStandIn:
    """STAND-IN for a Supabase project's API (not the real servers). `url` plays SUPABASE_URL."""

    def __init__(
        self,
        database_url: str,
        keys: ProjectKeys | None = None,
        admin_url: str | None = None,
        exposed_schemas: tuple[str, ...] | None = None,
        auth_config: auth.AuthConfig | None = None,
        realtime_limits: RealtimeLimits | None = None,
    ) -> None:
        self.database_url = database_url
        self.auth_config = auth_config or auth.AuthConfig.from_config_toml()
        self.keys = keys or ProjectKeys()
        self.exposed_schemas = exposed_schemas or postgrest.configured_schemas()
        self.faults = Faults()
        self.row_cap = RowCap()
        # Where Auth's mail goes, as the CLI's local stack sends it to Inbucket/Mailpit.
        self.mail = MailCatcher()
        # The stored objects, removed at stop(); a run killed before it could is swept by the next.
        self.blob_root = own_temp_folder(STORAGE_PREFIX)
        # Realtime logs in as the platform's superuser (its replication slot and server settings
        # are no business of postgres, which is no superuser on a hosted project).
        self.realtime = Realtime(
            admin_url or make_conninfo(database_url, user="supabase_admin"), self.keys, realtime_limits
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="supabase-standin", daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _start(self) -> None:
        # Faults first: they stand for what answers in front of the servers, or instead of them.
        # Preflights are the gateway's own answer: no fault reaches them.
        app = web.Application(middlewares=[cors, inject_faults, authenticate, auth_limits.limit_auth_requests],
                              client_max_size=64 * 1024 * 1024)  # fmt: skip
        app[auth_limits.REQUEST_LIMITS] = auth_limits.RequestLimits()
        app.on_response_prepare.append(cors_headers)
        app[FAULTS] = self.faults
        app[EXPOSED] = self.exposed_schemas
        app[ROW_CAP] = self.row_cap
        # PostgREST logs in as authenticator and switches to the caller's role per request.
        authenticator = make_conninfo(self.database_url, user="authenticator", password="")
        app[POOL] = ConnectionPool(authenticator)
        # Auth logs in as supabase_auth_admin, the owner of its tables.
        app[AUTH_POOL] = ConnectionPool(make_conninfo(self.database_url, user="supabase_auth_admin", password=""))
        app[auth.AUTH_CONFIG] = self.auth_config
        await self.mail.start()
        app[auth_mail.MAILER] = auth_mail.Mailer("127.0.0.1", self.mail.smtp_port)
        app[KEYS] = self.keys
        app[BLOB_ROOT] = self.blob_root
        app.add_routes([
            web.get("/realtime/v1/websocket", self.realtime.handle),
            web.post("/realtime/v1/api/broadcast", self.realtime.handle_broadcast_api),
            web.post("/realtime/v1/api/broadcast/{topic}/events/{event}", self.realtime.handle_single_broadcast_api),
        ])  # fmt: skip
        app.add_routes(auth.routes())
        app.add_routes(auth_links.routes())
        app.add_routes(storage_api.routes())
        app.add_routes(postgrest.routes())
        await self.realtime.start()
        self._runner = web.AppRunner(app, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        await self.realtime.stop()
        await self.mail.stop()
        if self._runner:
            await self._runner.app[POOL].close()
            await self._runner.app[AUTH_POOL].close()
            await self._runner.cleanup()
        # Handlers of sockets that were silenced, announcements still scheduled: end them here,
        # not in the garbage collector of a closed loop.
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def start(self) -> SupabaseStandIn:
        try:
            self._thread.start()
            self._run(self._start())
        except BaseException:
            # `with` calls no __exit__ when __enter__ fails: stop what started, remove the folder.
            with contextlib.suppress(Exception):
                self.stop()
            raise
        return self

    def stop(self) -> None:
        try:
            try:
                self._run(self._stop())
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(timeout=5)
                self._loop.close()
        finally:
            shutil.rmtree(self.blob_root, ignore_errors=True)  # the stored objects go with the project

    def __enter__(self) -> SupabaseStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults, callable from any thread -------------------------------------------------

    def inject(self, kind: str, path: str = "/rest/v1/rpc/", times: int = 1, after: bool = False) -> None:
        """The next `times` requests under `path` fail as `kind` (see faults.KINDS)."""
        self.faults.add(kind, path, times, after)

    @property
    def max_rows(self) -> int:
        """PostgREST's db-max-rows: the most rows a table read answers (a hosted project's 1,000)."""
        return self.row_cap.rows

    @max_rows.setter
    def max_rows(self, rows: int) -> None:
        self.row_cap.rows = rows

    def realtime_outage(self, seconds: float) -> None:
        self._run(self.realtime.outage(seconds))

    def drop_realtime_sockets(self) -> None:
        self._run(self.realtime.drop_sockets())

    def delay_subscriptions(self, seconds: float) -> None:
        self.realtime.subscription_delay = seconds

    def silence_realtime_sockets(self) -> None:
        self._loop.call_soon_threadsafe(self.realtime.silence_sockets)

    def realtime_socket_count(self) -> int:
        return len(self.realtime.sockets)

    def shut_down_realtime_channels(self, message: str) -> None:
        """Every joined channel shut down as Realtime does it (a system error naming `message`,
        then phx_close): what an expired token or the project's quota does to them."""
        self._run(self.realtime.shut_down_all(message))

    def realtime_shutdowns(self) -> list[tuple[str, str]]:
        """(topic, reason) of every channel Realtime shut down so far (quota, token, faults)."""
        return list(self.realtime.shutdowns)

    def realtime_joins(self) -> list[str]:
        """The topic of every channel joined so far, in order (a topic once a join)."""
        return list(self.realtime.joins)

    def realtime_topics(self) -> list[str]:
        """The topics joined on the open sockets, one entry per joined channel."""
        return [topic for sock in list(self.realtime.sockets) for topic in list(sock.channels)]

    def broadcast_deliveries(self) -> dict[int, int]:
        """Broadcast messages delivered to each open Realtime socket so far, by socket id."""
        return self._run(self._deliveries())

    async def _deliveries(self) -> dict[int, int]:
        return self.realtime.deliveries()

    def broadcasts_delivered(self) -> int:
        """All broadcast messages delivered to the open Realtime sockets so far."""
        return sum(self.broadcast_deliveries().values())

    @property
    def inbox_url(self) -> str:
        """The mail catcher's inbox page; its API is `api/messages?to=<address>`."""
        return self.mail.inbox_url

    def inbox(self, to: str) -> list[dict]:
        """The mail Auth sent to `to` so far, oldest first."""
        return self._run(self._inbox(to))

    async def _inbox(self, to: str) -> list[dict]:
        return self.mail.inbox(to)

    def stored_object(self, bucket: str, name: str) -> bytes | None:
        path = self.blob_root / bucket / name
        return path.read_bytes() if path.exists() else None


__all__ = ["SupabaseStandIn", "conninfo_to_dict"]
