"""The postgres transport's connector: worker RPCs over psycopg 3, wake-ups over LISTEN/NOTIFY.

Two URLs. Calls go to IMAGEN_DATABASE_URL, which may be a transaction pooler (Supavisor on
Supabase's port 6543, PgBouncer in transaction mode): every RPC is one transaction that carries
its own role (`set local role service_role` and the call, in one round trip), so no call depends
on session state, and psycopg prepares nothing (a pooler's server connections do not keep a
client's prepared statements). Wake-ups come from one LISTEN session per process
(imagen.transports.listener) on IMAGEN_LISTEN_DATABASE_URL, a direct or session-pooled
connection (default: IMAGEN_DATABASE_URL); a transaction pooler there is refused at start.

Each thread that calls an RPC (the render loop, the finisher, the heartbeat) has its own
autocommit connection, so a completion never waits behind a claim. A lost connection is a
transient RpcError (WorkerRpcs retries it); the listener reconnects with backoff and wakes the
workers so nothing queued meanwhile is missed.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import psycopg
from psycopg import ClientCursor, sql

from imagen.transports.listener import CHANNEL, Listener, leave_shared, shared_listener
from imagen.transports.rpcs import RpcError

log = logging.getLogger(__name__)

__all__ = ["CHANNEL", "PROGRESS_CHANNEL", "PostgresConnector"]
# Per-step progress for terminals watching a series (imagen submit --wait, imagen status): the
# postgres transport's Broadcast. A NOTIFY writes no row; its payload is capped at 8000 bytes, so
# previews stay out.
PROGRESS_CHANNEL = "imagen_progress"


# libpq reports no SQLSTATE for a failed connection; these words in its message mean the server
# refused the login itself (a wrong user, password, database or pg_hba rule), not the network.
LOGIN_REFUSED = (
    "password authentication failed", "is not permitted to log in", "does not exist", "no pg_hba.conf entry",
)  # fmt: skip


def connection_failure(message: str) -> str:
    """A SQLSTATE for a connection that failed: 28000 (refused login) or 08000 (transient)."""
    return "28000" if any(words in message for words in LOGIN_REFUSED) else "08000"


@cache
def rpc_statement(fn: str, names: tuple[str, ...]) -> str:
    """set local role service_role; select to_jsonb(r) from imagen.fn(a => %(a)s, ...) r: PostgREST's
    JSON, one row per result, as the worker's role. Sent as one simple query (one implicit
    transaction, so the role ends with it). Composed once per call shape and kept as text (a
    Composed is turned into bytes again on every execute: 0.2 s of a 1,000-try profile)."""
    args = sql.SQL(", ").join(sql.SQL("{} => {}").format(sql.Identifier(n), sql.Placeholder(n)) for n in names)
    call = sql.SQL("select to_jsonb(r) from imagen.{}({}) r").format(sql.Identifier(fn), args)
    return "set local role service_role; " + call.as_string(None)


class PostgresConnector:
    credentials = "IMAGEN_DATABASE_URL must log in as a role that may `set role service_role` (postgres on Supabase)"

    def __init__(self, database_url: str, listen_url: str | None = None, listener: Listener | None = None) -> None:
        """database_url: for the calls (a transaction pooler is fine); listen_url: the direct or
        session-pooled connection for LISTEN (default: database_url). listener: a Listener of the
        caller's own (default: the process's shared one for listen_url)."""
        self._url = database_url
        self._listen_url = listen_url or database_url
        self._given_listener = listener
        self.listener: Listener | None = None
        self._wake: Callable[[], None] | None = None
        self._local = threading.local()
        self._conns: list[psycopg.Connection] = []
        self._conns_lock = threading.Lock()
        self._stop = threading.Event()

    def _connect(self) -> psycopg.Connection:
        # No prepared statements: a transaction pooler gives each transaction any server connection.
        return psycopg.connect(self._url, autocommit=True, connect_timeout=5, prepare_threshold=None,
                               cursor_factory=ClientCursor)  # fmt: skip

    def _thread_conn(self) -> psycopg.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            # A thread that calls after close() (one still finishing a try) gets an error, not a
            # connection that nothing would close.
            if self._stop.is_set():
                raise psycopg.OperationalError("the connector is closed")
            conn = self._connect()
            with self._conns_lock:
                if self._stop.is_set():  # closed while this one was being opened
                    conn.close()
                    raise psycopg.OperationalError("the connector is closed")
                self._conns = [c for c in self._conns if not c.closed] + [conn]
            self._local.conn = conn
        return conn

    def call(self, fn: str, params: dict) -> Any:
        """The answer as PostgREST gives it: a list of rows (set-returning functions are read with
        first(), so one shape serves every function)."""
        statement = rpc_statement(fn, tuple(params))
        with self._as_rpc_errors():
            cursor = self._thread_conn().execute(statement, params)
            cursor.nextset()  # past the `set local role`
            return [row[0] for row in cursor.fetchall()]

    @contextmanager
    def _as_rpc_errors(self) -> Iterator[None]:
        """psycopg errors as RpcError (WorkerRpcs decides what is transient); a broken thread
        connection is closed so the next call opens a fresh one."""
        try:
            yield
        except psycopg.Error as exc:
            conn = getattr(self._local, "conn", None)
            if conn is not None and conn.broken:
                conn.close()
            message = exc.diag.message_primary or str(exc).strip()
            raise RpcError(exc.sqlstate or connection_failure(message), message) from exc

    broadcast_holds_previews = False  # a NOTIFY payload is at most 8000 bytes

    def broadcast(self, messages: list[dict]) -> None:
        """The progress messages as NOTIFYs on PROGRESS_CHANNEL, in one transaction."""
        with self._as_rpc_errors():
            conn = self._thread_conn()
            with conn.transaction():
                for message in messages:
                    conn.execute("select pg_notify(%s, %s)", (PROGRESS_CHANNEL, json.dumps(message)))

    def start(self, wake: Callable[[], None]) -> None:
        """Subscribes to the process's listener (the first subscriber opens its session; a
        transaction pooler on the listen URL raises ListenThroughPooler, a ConfigError)."""
        self.listener = self._given_listener or shared_listener(self._listen_url)
        self.listener.subscribe(wake)
        self._wake = wake

    def idle(self, waiting: bool) -> None:
        """The worker starts or stops waiting for work (the listener wakes idle workers first)."""
        if self.listener is not None and self._wake is not None:
            self.listener.idle(self._wake, waiting)

    def claimed_one(self) -> None:
        """A claim found a try: the listener wakes the next idle worker of the process."""
        if self.listener is not None:
            self.listener.pass_on()

    def close(self) -> None:
        self._stop.set()
        if self.listener is not None and self._wake is not None:
            if self._given_listener is None:
                leave_shared(self.listener, self._wake)
            else:
                self.listener.unsubscribe(self._wake)
            self._wake = None
        with self._conns_lock:
            for conn in self._conns:
                conn.close()
