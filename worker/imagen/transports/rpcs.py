"""What the worker RPCs' answers mean, written once for every transport.

As in procrastinate, a transport's connector only executes: it calls an RPC by name with named
parameters and hands back PostgREST's shape of the answer (a list from a set-returning function,
a value otherwise), and it raises RpcError. It also delivers wake-up hints. WorkerRpcs gives the
answers their meaning (IL001: the lease is lost; NULL from complete_job: cancelled; fail_job:
when the try runs again), retries transient failures with backoff, and owns the wake event.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, TypeVar

from imagen.config import ConfigError
from imagen.errors import ImagenError
from imagen.jobs import HeartbeatAnswer, Job, JobCancelled, LeaseLost, TryStatus
from imagen.monitoring.observer import Observer
from imagen.signals import wait_event

log = logging.getLogger(__name__)
T = TypeVar("T")

LEASE_LOST = "IL001"
SCHEMA_NOT_EXPOSED = "PGRST106"
NETWORK = "network"  # no answer at all: refused, reset, timed out

# Failures that pass: the same call may succeed if tried again shortly. One list for every
# transport, from Postgres' SQLSTATEs, PostgREST's own codes and what a proxy in front answers.
TRANSIENT_CODES = frozenset({
    NETWORK,
    "57014",  # statement timeout (hosted: 8 s on authenticator)
    "55P03",  # lock timeout (hosted: 8 s on authenticator)
    "57P01", "57P02", "57P03",  # the server is shutting down, crashed, or not yet accepting
    "40001", "40P01",  # serialization failure, deadlock: the transaction was rolled back
    "PGRST000", "PGRST001",  # PostgREST cannot reach the database
    "PGRST002",  # PostgREST is (re)loading its schema cache, e.g. after every `db push`
    "PGRST003",  # PostgREST's pool had no connection free in time
    "408", "429", "500", "502", "503", "504",  # HTTP answers without a PostgREST body
    "520", "521", "522", "523", "524",  # the proxy in front (Cloudflare) could not reach the origin
    "544", "423",  # Storage: its database's statement timeout (DatabaseTimeout) or lock timeout (ResourceLocked)
})  # fmt: skip
TRANSIENT_SQLSTATE_CLASSES = ("08", "53")  # connection exceptions, insufficient resources


# Answers that say the configuration is wrong, whatever the call: restarting cannot fix them, so
# they stop the worker with one line and exit code 2 (the unit file does not restart on 2).
# The credentials were refused: a wrong, garbage or low-privilege key (the gateway's 401, PostgREST's
# JWT errors, 42501 from a role without rights), or a login the database refuses.
REFUSED_CODES = frozenset({"401", "403", "42501", "PGRST300", "PGRST301", "PGRST302", "28000", "28P01"})
# No imagen schema, or an older one: the migrations were not applied (PGRST202/205: PostgREST knows
# no such function or table).
UNMIGRATED_CODES = frozenset({"3F000", "42P01", "42883", "PGRST202", "PGRST205"})
APPLY_MIGRATIONS = (
    "apply the migrations: `supabase db push` for a Supabase project, `imagen db migrate` for a plain PostgreSQL"
)


def configuration_error(exc: RpcError, credentials: str) -> ConfigError | None:
    """The ConfigError an answer stands for, or None if it says nothing about the configuration."""
    if exc.code == SCHEMA_NOT_EXPOSED:
        return ConfigError(
            "the project's API does not expose schema imagen: add it under Dashboard > Project Settings"
            " > Data API > Exposed schemas, or add it to [api] schemas in supabase/config.toml and run"
            " `supabase config push`"
        )
    if exc.code in REFUSED_CODES:
        return ConfigError(f"the worker's credentials were refused ({exc}): {credentials}")
    if exc.code in UNMIGRATED_CODES:
        return ConfigError(f"the database has no imagen schema, or an older one ({exc}): {APPLY_MIGRATIONS}")
    return None


def is_transient(code: str) -> bool:
    return code in TRANSIENT_CODES or code.startswith(TRANSIENT_SQLSTATE_CLASSES)


class RpcError(ImagenError):
    """An RPC (or a Storage call) failed. `code` is the SQLSTATE, PostgREST's PGRST code, an HTTP
    status, or NETWORK; `transient` says the same call may succeed if tried again shortly."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code
        self.message = message
        self.transient = is_transient(code)


class Connector(Protocol):
    def call(self, fn: str, params: dict) -> Any:
        """Runs imagen.<fn>(params); raises RpcError."""

    def start(self, wake: Callable[[], None]) -> None:
        """Starts delivering wake-up hints (events, reconnects) by calling wake()."""

    def close(self) -> None: ...


class Backoff:
    """0.1 s doubling to max_delay, with jitter so that many workers do not retry in step."""

    def __init__(self, max_delay: float = 5.0) -> None:
        self.delay = 0.1
        self.max_delay = max_delay

    def wait(self, stop: threading.Event) -> None:
        stop.wait(self.delay * random.uniform(0.5, 1.0))
        self.delay = min(self.delay * 2, self.max_delay)

    def reset(self) -> None:
        self.delay = 0.1


def with_retries(
    call: Callable[[], T], what: str, stop: threading.Event, *, retry: bool = True, observer: Observer | None = None
) -> T:
    """call(), again with backoff while it fails transiently (and we are not stopping)."""
    backoff = Backoff()
    while True:
        try:
            return call()
        except RpcError as exc:
            retrying = retry and exc.transient and not stop.is_set()
            if observer is not None and exc.transient:
                observer.unanswered(what, exc.code, retrying)
            if not retrying:
                raise
            log.warning("%s failed, retrying in about %.1fs: %s", what, backoff.delay, exc)
        backoff.wait(stop)


def first(answer: Any) -> Any:
    """The one row of an answer that PostgREST gives as a list or as a value."""
    if isinstance(answer, list):
        return answer[0] if answer else None
    return answer


def queue_wait(row: dict) -> float | None:
    """Seconds a claimed try waited, from queued_at to started_at: both the database's clock."""
    queued, started = row.get("queued_at"), row.get("started_at")
    if queued is None or started is None:  # a queue that does not say (the in-memory one)
        return None
    queued, started = (datetime.fromisoformat(t) if isinstance(t, str) else t for t in (queued, started))
    return (started - queued).total_seconds()


class WorkerRpcs:
    """The JobQueue the worker loop uses, over any connector."""

    observer: Observer = Observer()  # told of answers, retries and claims (imagen.monitoring.metrics)

    def __init__(
        self,
        connector: Connector,
        worker_id: str,
        lease_seconds: float = 60,
        retry_backoff_seconds: float = 2.0,
        models: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None,
        *,
        start: bool = True,
    ) -> None:
        self.connector = connector
        # What this worker renders: the claim hands out only tries of these models and kinds (None: any).
        self.models = None if models is None else list(models)
        self.kinds = None if kinds is None else list(kinds)
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.retry_backoff_seconds = retry_backoff_seconds
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._wake.set()  # claim on start
        if start:
            self.start()

    def start(self) -> None:
        """The connector starts delivering wake-up hints (the constructor does this unless told not to)."""
        self.connector.start(self._wake.set)

    def _call(self, fn: str, params: dict, *, retry: bool = True) -> Any:
        try:
            answer = with_retries(lambda: self.connector.call(fn, params), fn, self._stop, retry=retry,
                                  observer=self.observer)  # fmt: skip
            self.observer.answered()
            return answer
        except RpcError as exc:
            if not exc.transient:  # an answer of the call's own: the queue is there
                self.observer.answered()
            if exc.code == LEASE_LOST:
                raise LeaseLost(exc.message) from exc
            if (config := configuration_error(exc, self.credentials)) is not None:
                raise config from exc
            raise

    @property
    def credentials(self) -> str:
        """What to set when the credentials are refused (the connector's words, else generic ones)."""
        return getattr(self.connector, "credentials", "check the worker's database or project credentials")

    def check(self) -> None:
        """Fails at start, before the model loads, if the RPCs cannot work at all (a ConfigError for
        refused credentials, a schema the API does not expose, an unmigrated database). A heartbeat
        for no job is a no-op that answers 'lost'."""
        self._call("heartbeat_job", {"job_id": str(uuid.UUID(int=0)), "worker_id": self.worker_id,
                                     "progress": 0, "lease_seconds": self.lease_seconds})  # fmt: skip

    def _held(self, job: Job) -> dict:
        return {"job_id": str(job.id), "worker_id": self.worker_id}

    def wake(self) -> None:
        """A hint from outside the connector (a test, a benchmark): claim now."""
        self._wake.set()

    def wait_for_work(self, timeout: float) -> None:
        # A connector that shares one wake-up among many workers wakes the idle ones first.
        idle = getattr(self.connector, "idle", None)
        if idle is not None:
            idle(True)
        try:
            wait_event(self._wake, timeout)  # the worker's main thread: a stop signal is handled within 0.5 s
        finally:
            if idle is not None:
                idle(False)
        if not self._stop.is_set():
            self._wake.clear()

    def interrupt(self) -> None:
        """The worker is stopping: waits end now, and a failing call is tried once more at most
        (releasing a try still gets its one attempt)."""
        self._stop.set()
        self._wake.set()
        if (interrupt := getattr(self.connector, "interrupt", None)) is not None:
            interrupt()

    def claim(self) -> Job | None:
        # One claim_id for this claim and all its retries: if an answer is lost after the commit,
        # the retry gets the same try back instead of leaving it stranded until its lease expires.
        params = {"worker_id": self.worker_id, "lease_seconds": self.lease_seconds, "claim_id": str(uuid.uuid4())}
        params |= {k: v for k, v in (("models", self.models), ("kinds", self.kinds)) if v is not None}
        asked = time.perf_counter()
        row = first(self._call("claim_job", params))
        self.observer.claimed(time.perf_counter() - asked, queue_wait(row) if row else None)
        if row and (claimed_one := getattr(self.connector, "claimed_one", None)) is not None:
            claimed_one()  # there may be more: the connector may wake another idle worker
        return Job.from_row(row) if row else None

    def heartbeat(self, job: Job, progress: int) -> HeartbeatAnswer:
        params = {**self._held(job), "progress": progress, "lease_seconds": self.lease_seconds}
        return first(self._call("heartbeat_job", params, retry=False))

    def complete(self, job: Job, bucket: str, path: str, nbytes: int) -> None:
        image = first(self._call("complete_job", {**self._held(job), "bucket": bucket, "path": path, "bytes": nbytes}))
        if not image or image.get("id") is None:  # the try was cancelled while it rendered
            raise JobCancelled(f"job {job.id} was cancelled while it rendered")

    def fail(self, job: Job, error: str) -> datetime | None:
        row = first(self._call("fail_job", {**self._held(job), "error": error,
                                            "backoff_seconds": self.retry_backoff_seconds}))  # fmt: skip
        if row["status"] != TryStatus.QUEUED:
            return None
        run_after = row["run_after"]
        return datetime.fromisoformat(run_after) if isinstance(run_after, str) else run_after

    def release(self, job: Job) -> None:
        self._call("release_job", self._held(job))

    def objects_to_delete(self, limit: int = 100) -> list[dict]:
        """Storage objects whose image rows are gone (deleted series and pictures). A set-returning
        function: every connector answers with a list."""
        return self._call("pending_object_deletions", {"max_rows": limit}, retry=False)

    def forget_objects(self, ids: list[int]) -> None:
        # Housekeeping is not retried here: the worker tries it again later, on its own schedule.
        self._call("forget_object_deletions", {"ids": ids}, retry=False)

    def overview(self, top_users: int = 0) -> dict:
        """imagen.queue_overview: runnable tries, the oldest wait, top users, lease holders."""
        return first(self._call("queue_overview", {"top_users": top_users}, retry=False))

    def close(self) -> None:
        self.interrupt()
        self.connector.close()
