"""One LISTEN session per process (a node), fanning each wake-up out to every worker of the process.

Before PostgreSQL 19 every NOTIFY costs more for each idle listening session, so a node with many
workers listens once: the first worker's connector opens the session, the others subscribe to it,
and the last one to leave closes it. The session must be a direct (or session-pooled) connection:
a transaction pooler hands the server connection that holds the LISTEN to other clients between
transactions and never forwards the notifications, which fails silently. `check_listen_works`
notices such a pooler (the backend's pid differs from the one the connection was given, and a
NOTIFY sent from another session does not arrive) and refuses it with a ConfigError.

The fan-out wakes one idle worker a NOTIFY, not all of them (a node of 50 idle workers would
otherwise send 50 claims for every series queued): workers say when they wait (`idle`) and when a
claim of theirs found a try (`pass_on`), which wakes the next idle worker, because there may be
more. A series of n tries thus wakes a chain of about n + 1 workers. When no worker of the node is
idle, the wake-up is kept (`_pending`) for the next worker that starts waiting, which claims at
once: busy workers claim again when their render ends anyway, and a worker between its last empty
claim and its wait is not left sleeping while a try waits. The poll timer backs it all.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable

import psycopg
from psycopg import sql

from imagen.config import ConfigError
from imagen.transports.rpcs import Backoff

log = logging.getLogger(__name__)

CHANNEL = "imagen_jobs"
APPLICATION_NAME = "imagen-listen"  # how the listening sessions are told apart in pg_stat_activity
PROBE_SECONDS = 3.0  # how long a NOTIFY through a pooler may take before LISTEN is judged not to work


class ListenThroughPooler(ConfigError):
    pass


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True, connect_timeout=5, prepare_threshold=None)


def check_listen_works(conn: psycopg.Connection, url: str, probe_channel: str) -> None:
    """Raises ListenThroughPooler if `conn` reaches PostgreSQL through a transaction pooler.
    `conn` already listens on probe_channel. A direct connection costs one query; only a pooler
    in between (its own backend pid) is probed with a NOTIFY from a second session."""
    if conn.execute("select pg_backend_pid()").fetchone()[0] == conn.info.backend_pid:
        return  # the server's own session: no pooler in between
    with psycopg.connect(url, autocommit=True, connect_timeout=5, prepare_threshold=None) as other:
        other.execute("select pg_notify(%s, 'probe')", (probe_channel,))
    if any(n.channel == probe_channel for n in conn.notifies(timeout=PROBE_SECONDS, stop_after=1)):
        return  # a session pooler: the LISTEN stays with this client
    raise ListenThroughPooler(
        "the LISTEN connection goes through a transaction pooler (PgBouncer or Supavisor in transaction mode,"
        " Supabase's port 6543), which never delivers notifications: set IMAGEN_LISTEN_DATABASE_URL to a direct"
        " connection (db.<project-ref>.supabase.co:5432) or the session pooler (port 5432); IMAGEN_DATABASE_URL"
        " may stay pooled"
    )


class Listener:
    """One listening session and the wake callbacks of the workers that share it."""

    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        self.url = url
        self.channel = channel
        self.probe_channel = f"imagen_listener_{uuid.uuid4().hex}"  # the pooler probe, and stop()'s nudge
        self._subscribers: list[Callable[[], None]] = []
        self._idle: OrderedDict[Callable[[], None], None] = OrderedDict()  # waiting, longest first
        self._pending = False  # a wake-up that found no idle subscriber: the next one to wait takes it
        self._connected = False  # the session listens: a subscriber joining now is woken at once
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()  # a fresh one for each thread
        self.notifications = 0  # NOTIFYs received on `channel`
        self.wakeups = 0  # wake callbacks called (a NOTIFY wakes every subscriber)

    def subscribe(self, wake: Callable[[], None]) -> None:
        """Starts listening with the first subscriber. A pooler that cannot LISTEN raises
        ListenThroughPooler here; an unreachable database is retried in the background."""
        with self._lock:
            self._subscribers.append(wake)
            joined_live = self._connected  # the session's wake-up on connect went out before it came
            if self._thread is None:
                self._start(wake)
        if joined_live:  # anything queued before it joined: it claims once, as the others did
            self.wakeups += 1
            wake()

    def _start(self, wake: Callable[[], None]) -> None:
        """Opens the session and starts its thread; the caller holds the lock."""
        conn = None
        try:
            conn = self._open()
        except psycopg.OperationalError as exc:
            log.warning("LISTEN connection failed, retrying: %s", str(exc).strip())
        except BaseException:
            self._subscribers.remove(wake)
            raise
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(conn, self._stop), name="imagen-listen",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def unsubscribe(self, wake: Callable[[], None]) -> bool:
        """Removes a subscriber; the last one stops the session. True if it was the last."""
        with self._lock:
            if wake in self._subscribers:
                self._subscribers.remove(wake)
            self._idle.pop(wake, None)
            if self._subscribers or self._thread is None:
                return False
            thread, stop, self._thread = self._thread, self._stop, None
            self._connected = False
        stop.set()
        try:  # the session sees the stop now, not at its next 1 s timeout
            with psycopg.connect(self.url, autocommit=True, connect_timeout=2, prepare_threshold=None) as conn:
                conn.execute("select pg_notify(%s, 'stop')", (self.probe_channel,))
        except psycopg.Error:
            pass  # the database is gone: the timeout ends it
        thread.join(timeout=3)
        return True

    def _open(self) -> psycopg.Connection:
        conn = connect(self.url)
        try:
            conn.execute(sql.SQL("listen {}").format(sql.Identifier(self.probe_channel)))
            check_listen_works(conn, self.url, self.probe_channel)
            # Named only once it is known to be the server's own session (a pooler's would keep the name).
            conn.execute("select set_config('application_name', %s, false)", (APPLICATION_NAME,))
            conn.execute(sql.SQL("listen {}").format(sql.Identifier(self.channel)))
        except BaseException:
            conn.close()
            raise
        return conn

    def idle(self, wake: Callable[[], None], waiting: bool) -> None:
        """A subscriber starts (True) or stops (False) waiting for work; one that starts while a
        wake-up is pending is woken at once."""
        with self._lock:
            pending = waiting and self._pending and wake in self._subscribers
            if pending:
                self._pending = False
            elif waiting and wake in self._subscribers:
                self._idle[wake] = None
            else:
                self._idle.pop(wake, None)
        if pending:
            self.wakeups += 1
            wake()

    def pass_on(self) -> None:
        """A subscriber's claim found a try: there may be more, so the next idle one claims too."""
        self._wake_one()

    def _wake_one(self) -> None:
        """The longest-idle subscriber, or, when none is idle, the next one to wait."""
        with self._lock:
            wake = self._idle.popitem(last=False)[0] if self._idle else None
            self._pending = wake is None
        if wake is not None:
            self.wakeups += 1
            wake()

    def _fan_out(self) -> None:
        """Every subscriber (after a reconnect: anything may have been queued meanwhile)."""
        with self._lock:
            targets = list(self._subscribers)
            self._idle.clear()
            self._pending = False
            self._connected = True
        self.wakeups += len(targets)
        for wake in targets:
            wake()

    def _run(self, conn: psycopg.Connection | None, stop: threading.Event) -> None:
        backoff = Backoff()
        while not stop.is_set():
            try:
                conn = conn or self._open()
                with conn:
                    backoff.reset()
                    if stop.is_set():  # the last subscriber left while this thread connected
                        return
                    self._fan_out()  # anything queued while we were away
                    while not stop.is_set():
                        for note in conn.notifies(timeout=1.0, stop_after=1):
                            if note.channel == self.channel:
                                self._wake_one()
                                self.notifications += 1  # after: whoever sees the count sees its wake-up
            except psycopg.OperationalError as exc:
                self._connected = False  # who joins now is woken by the reconnect's fan-out
                log.warning("LISTEN connection lost, reconnecting: %s", str(exc).strip())
                backoff.wait(stop)
            except ListenThroughPooler as exc:  # the URL changed under us: say so, and keep trying
                log.error("%s", exc)
                backoff.wait(stop)
            conn = None


_shared: dict[str, Listener] = {}
_shared_lock = threading.Lock()


def shared_listener(url: str) -> Listener:
    """This process's listener for `url`: one session however many workers subscribe."""
    with _shared_lock:
        if url not in _shared:
            _shared[url] = Listener(url)
        return _shared[url]


def leave_shared(listener: Listener, wake: Callable[[], None]) -> None:
    """Unsubscribes; the process's registry forgets a listener whose last subscriber left."""
    with _shared_lock:
        if listener.unsubscribe(wake) and _shared.get(listener.url) is listener:
            del _shared[listener.url]
