"""The postgres transport's connector: worker RPCs over psycopg 3, wake-ups over LISTEN/NOTIFY.

Each thread that calls an RPC (the render loop, the finisher, the heartbeat) has its own
autocommit connection, so a completion never waits behind a claim; LISTEN runs on a dedicated
connection in its own thread. A lost connection is a transient RpcError (WorkerRpcs retries it);
the listener reconnects with backoff and wakes the worker so nothing queued meanwhile is missed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import psycopg
from psycopg import sql

from imagen.transports.rpcs import Backoff, RpcError

log = logging.getLogger(__name__)

CHANNEL = "imagen_jobs"
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
    """select to_jsonb(r) from imagen.fn(a => %(a)s, ...) r: PostgREST's JSON, one row per result.
    Composed once per call shape and kept as text (a Composed is turned into bytes again on every
    execute: 0.2 s of a 1,000-try profile)."""
    args = sql.SQL(", ").join(sql.SQL("{} => {}").format(sql.Identifier(n), sql.Placeholder(n)) for n in names)
    return sql.SQL("select to_jsonb(r) from imagen.{}({}) r").format(sql.Identifier(fn), args).as_string(None)


class PostgresConnector:
    credentials = "IMAGEN_DATABASE_URL must log in as a role that may `set role service_role` (postgres on Supabase)"

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._local = threading.local()
        self._conns: list[psycopg.Connection] = []
        self._conns_lock = threading.Lock()
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None

    def _connect(self) -> psycopg.Connection:
        conn = psycopg.connect(self._url, autocommit=True, connect_timeout=5)
        # service_role: the same rights the supabase transport has, nothing more.
        conn.execute("set role service_role")
        return conn

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
            return [row[0] for row in self._thread_conn().execute(statement, params).fetchall()]

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
        self._listener = threading.Thread(target=self._listen, args=(wake,), name="imagen-listen", daemon=True)
        self._listener.start()

    def _listen(self, wake: Callable[[], None]) -> None:
        backoff = Backoff()
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(sql.SQL("listen {}").format(sql.Identifier(CHANNEL)))
                    backoff.reset()
                    wake()  # anything queued while we were away
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            wake()
            except psycopg.OperationalError as exc:
                log.warning("LISTEN connection lost, reconnecting: %s", str(exc).strip())
                backoff.wait(self._stop)

    def _wake_listener(self) -> None:
        """A NOTIFY of our own, so the listener sees the stop now, not at its next 1 s timeout."""
        with contextlib.suppress(psycopg.Error):  # the database is gone: the listener's timeout ends it
            self._thread_conn().execute("select pg_notify(%s, '')", (CHANNEL,))

    def close(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._wake_listener()
            self._listener.join(timeout=3)
        with self._conns_lock:
            for conn in self._conns:
                conn.close()
