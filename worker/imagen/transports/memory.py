"""An in-memory connector: the worker RPCs' semantics in Python, for a single process.

It answers as the SQL functions do (same shapes, IL001 for a lost lease, NULL from complete_job
for a cancelled try), so the worker loop and WorkerRpcs run without a database: the loop's
unit tests, and the GPU benchmark on a box without Postgres. The test hooks do what a user or
another worker would: add a try, cancel one, take a lease away.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from imagen.jobs import Job, TryStatus
from imagen.transports.rpcs import LEASE_LOST, RpcError, WorkerRpcs


@dataclasses.dataclass
class MemoryJob:
    job: Job
    status: TryStatus = TryStatus.QUEUED
    attempts: int = 0
    leased_by: str | None = None
    claim_id: str | None = None
    cancel_requested: bool = False
    progress: int = 0
    run_after: datetime = dataclasses.field(default_factory=lambda: datetime.now(UTC))
    error: str | None = None
    image: dict | None = None

    def row(self) -> dict:
        row = {f.name: getattr(self.job, f.name) for f in dataclasses.fields(Job)}
        row.update(status=self.status, attempts=self.attempts, run_after=self.run_after.isoformat(),
                   progress=self.progress, error=self.error)  # fmt: skip
        return {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in row.items()}


def lease_lost(message: str) -> RpcError:
    return RpcError(LEASE_LOST, f"lease lost: {message}")


class MemoryConnector:
    def __init__(self, jobs: list[Job] = ()) -> None:
        self.jobs: dict[uuid.UUID, MemoryJob] = {}
        self.calls: list[str] = []
        # Test hooks: RPCs that fail as against a database that is starting up (transient), and
        # a callable run after each call that answered (a signal landing just after it, say).
        self.failing: set[str] = set()
        self.after_call: Callable[[str], None] | None = None
        self.deleted_objects: dict[int, dict] = {}  # as imagen.objects_to_delete
        self._lock = threading.Lock()
        self._wake: Callable[[], None] = lambda: None
        for job in jobs:
            self.add(job)

    # -- what users and other workers do ------------------------------------------------

    def add(self, job: Job) -> None:
        with self._lock:
            self.jobs[job.id] = MemoryJob(dataclasses.replace(job, attempts=0), attempts=job.attempts)
        self._wake()

    def cancel(self, job_id: uuid.UUID) -> None:
        """As cancel_job: a queued try is cancelled at once, a running one at its next heartbeat."""
        with self._lock:
            entry = self.jobs[job_id]
            if entry.status == TryStatus.QUEUED:
                entry.status = TryStatus.CANCELLED
            elif entry.status == TryStatus.RUNNING:
                entry.cancel_requested = True

    def take_lease(self, job_id: uuid.UUID, by: str = "another-worker") -> None:
        """Another worker took the try over (as after our lease expired)."""
        with self._lock:
            self.jobs[job_id].leased_by = by

    def status(self, job_id: uuid.UUID) -> str:
        return self.jobs[job_id].status

    # -- the connector --------------------------------------------------------------------

    def start(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    def close(self) -> None:
        pass

    def call(self, fn: str, params: dict) -> Any:
        with self._lock:
            self.calls.append(fn)
            if fn in self.failing:
                raise RpcError("57P03", "the database system is starting up")
            answer = getattr(self, f"_{fn}")(**params)
        if self.after_call is not None:
            self.after_call(fn)
        return answer

    def _held(self, job_id: str, worker_id: str, *, running: bool = True) -> MemoryJob:
        entry = self.jobs.get(uuid.UUID(job_id))
        if entry is None or entry.leased_by != worker_id or (running and entry.status != TryStatus.RUNNING):
            raise lease_lost(f"job {job_id} is not running under {worker_id}")
        return entry

    def delete_object(self, bucket: str, path: str) -> None:
        """As deleting an image row does: its stored picture is listed for the worker to remove."""
        with self._lock:
            key = len(self.deleted_objects) + 1
            self.deleted_objects[key] = {"id": key, "bucket": bucket, "path": path}

    def _claim_job(
        self,
        worker_id: str,
        lease_seconds: float,
        claim_id: str,
        models: list[str] | None = None,
        kinds: list[str] | None = None,
    ) -> list[dict]:
        now = datetime.now(UTC)
        for entry in self.jobs.values():  # a retried claim gets back what it took
            if entry.claim_id == claim_id and entry.status == TryStatus.RUNNING and entry.leased_by == worker_id:
                return [entry.row()]
        for entry in self.jobs.values():  # insertion order: series order, then index order
            job = entry.job
            if (models is not None and job.model not in models) or (kinds is not None and job.kind not in kinds):
                continue
            if entry.status == TryStatus.QUEUED and entry.run_after <= now:
                entry.status, entry.leased_by, entry.claim_id = TryStatus.RUNNING, worker_id, claim_id
                entry.progress = 0
                entry.attempts += 1
                return [entry.row()]
        return []

    def _pending_object_deletions(self, max_rows: int) -> list[dict]:
        return list(self.deleted_objects.values())[:max_rows]

    def _forget_object_deletions(self, ids: list[int]) -> int:
        return sum(self.deleted_objects.pop(i, None) is not None for i in ids)

    def _heartbeat_job(self, job_id: str, worker_id: str, progress: int, lease_seconds: float) -> str:
        entry = self.jobs.get(uuid.UUID(job_id))
        if entry is None or entry.status != TryStatus.RUNNING or entry.leased_by != worker_id:
            return "cancelled" if entry is not None and entry.status == TryStatus.CANCELLED else "lost"
        if entry.cancel_requested:
            entry.status = TryStatus.CANCELLED
            return "cancelled"
        entry.progress = max(entry.progress, progress)
        return "ok"

    def _complete_job(self, job_id: str, worker_id: str, bucket: str, path: str, bytes: int) -> dict | None:
        entry = self._held(job_id, worker_id, running=False)
        if entry.status == TryStatus.DONE:
            return entry.image
        if entry.status != TryStatus.RUNNING:
            raise lease_lost(f"job {job_id} is {entry.status}")
        if entry.cancel_requested:
            entry.status = TryStatus.CANCELLED
            return None
        entry.status, entry.progress = TryStatus.DONE, entry.job.steps
        entry.image = {"id": str(uuid.uuid4()), "job_id": job_id, "bucket": bucket, "path": path, "bytes": bytes}
        return entry.image

    def _fail_job(self, job_id: str, worker_id: str, error: str, backoff_seconds: float) -> dict:
        entry = self._held(job_id, worker_id)
        entry.error = error
        entry.status = TryStatus.FAILED if entry.attempts >= entry.job.max_attempts else TryStatus.QUEUED
        delay = min(600, max(0, backoff_seconds) * 2 ** max(entry.attempts - 1, 0))
        entry.run_after = datetime.now(UTC) + timedelta(seconds=delay)
        return entry.row()

    def _release_job(self, job_id: str, worker_id: str) -> dict:
        entry = self._held(job_id, worker_id)
        entry.status = TryStatus.CANCELLED if entry.cancel_requested else TryStatus.QUEUED
        entry.attempts = max(entry.attempts - 1, 0)
        entry.run_after = datetime.now(UTC)
        self._wake()
        return entry.row()


def memory_queue(jobs: list[Job] = (), worker_id: str = "memory-worker", **kw: Any) -> WorkerRpcs:
    """A JobQueue over a MemoryConnector (reach it as .connector)."""
    return WorkerRpcs(MemoryConnector(jobs), worker_id, **kw)
