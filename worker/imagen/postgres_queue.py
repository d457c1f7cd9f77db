"""The postgres transport: worker RPCs over psycopg 3, wake-ups over LISTEN/NOTIFY.

Each thread that calls an RPC (the render loop, the finisher, the heartbeat) has its own
autocommit connection, so a completion never waits behind a claim; LISTEN runs on a dedicated
connection in its own thread. Both reconnect with backoff when
the database goes away, and a reconnected listener wakes the worker so nothing is missed.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

import psycopg
from psycopg.rows import dict_row

from imagen.jobs import HeartbeatAnswer, Job, JobCancelled, LeaseLost

log = logging.getLogger(__name__)

CHANNEL = "imagen_jobs"
LEASE_LOST = "IL001"


class Backoff:
    """0.1 s doubling to max_delay; reset after a success."""

    def __init__(self, max_delay: float = 5.0) -> None:
        self.delay = 0.1
        self.max_delay = max_delay

    def wait(self, stop: threading.Event) -> None:
        stop.wait(self.delay)
        self.delay = min(self.delay * 2, self.max_delay)

    def reset(self) -> None:
        self.delay = 0.1


class PostgresQueue:
    def __init__(
        self,
        database_url: str,
        worker_id: str,
        lease_seconds: float = 60,
        retry_backoff_seconds: float = 2.0,
    ) -> None:
        self._url = database_url
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.retry_backoff_seconds = retry_backoff_seconds
        self._local = threading.local()
        self._conns: list[psycopg.Connection] = []
        self._conns_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._wake.set()  # claim on start
        self._listener = threading.Thread(target=self._listen, name="imagen-listen", daemon=True)
        self._listener.start()

    # -- connections ---------------------------------------------------------------------

    def _connect(self) -> psycopg.Connection:
        # service_role: the same rights the supabase transport has, nothing more.
        conn = psycopg.connect(self._url, autocommit=True, row_factory=dict_row, connect_timeout=5)
        conn.execute("set role service_role")
        return conn

    def _thread_conn(self) -> psycopg.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._local.conn = self._connect()
            with self._conns_lock:
                self._conns = [c for c in self._conns if not c.closed] + [conn]
        return conn

    def _call(self, sql: str, params: tuple, *, retry: bool = True) -> list[dict]:
        """Runs one RPC; on a lost connection reconnects with backoff and (if retry) runs it again.
        A lost lease (SQLSTATE IL001) becomes LeaseLost, as in the supabase transport."""
        backoff = Backoff()
        while True:
            try:
                return self._thread_conn().execute(sql, params).fetchall()
            except psycopg.OperationalError as exc:
                conn = getattr(self._local, "conn", None)
                if conn is not None:
                    conn.close()
                if not retry or self._stop.is_set():
                    raise
                log.warning("database unavailable, retrying in %.1fs: %s", backoff.delay, str(exc).strip())
                backoff.wait(self._stop)
            except psycopg.Error as exc:
                if exc.sqlstate == LEASE_LOST:
                    raise LeaseLost(exc.diag.message_primary) from exc
                raise

    def _listen(self) -> None:
        backoff = Backoff()
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"listen {CHANNEL}")
                    backoff.reset()
                    self._wake.set()  # anything queued while we were away
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self._wake.set()
            except psycopg.OperationalError as exc:
                log.warning("LISTEN connection lost, reconnecting: %s", str(exc).strip())
                backoff.wait(self._stop)

    # -- the JobQueue protocol -----------------------------------------------------------

    def wait_for_work(self, timeout: float) -> None:
        self._wake.wait(timeout)
        self._wake.clear()

    def claim(self) -> Job | None:
        rows = self._call("select * from imagen.claim_job(%s, %s)", (self.worker_id, self.lease_seconds))
        return Job.from_row(rows[0]) if rows else None

    def heartbeat(self, job: Job, progress: int) -> HeartbeatAnswer:
        rows = self._call(
            "select imagen.heartbeat_job(%s, %s, %s, %s) as answer",
            (job.id, self.worker_id, progress, self.lease_seconds),
            retry=False,
        )
        return rows[0]["answer"]

    def complete(self, job: Job, bucket: str, path: str, nbytes: int) -> None:
        rows = self._call(
            "select id from imagen.complete_job(%s, %s, %s, %s, %s)", (job.id, self.worker_id, bucket, path, nbytes)
        )
        if rows[0]["id"] is None:
            raise JobCancelled(f"job {job.id} was cancelled while it rendered")

    def fail(self, job: Job, error: str) -> datetime | None:
        rows = self._call(
            "select status, run_after from imagen.fail_job(%s, %s, %s, %s)",
            (job.id, self.worker_id, error, self.retry_backoff_seconds),
        )
        return rows[0]["run_after"] if rows[0]["status"] == "queued" else None

    def release(self, job: Job) -> None:
        self._call("select id from imagen.release_job(%s, %s)", (job.id, self.worker_id))

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._listener.join(timeout=3)
        with self._conns_lock:
            for conn in self._conns:
                conn.close()
