"""An in-memory JobQueue: the worker loop without a database, for the GPU benchmark (a GPU box
may have no Postgres) and for unit tests of the loop. Same semantics as the SQL functions for a
single worker: claim in order, leases are implicit, fail retries with backoff until max_attempts."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from imagen.jobs import HeartbeatAnswer, Job, LeaseLost


class MemoryQueue:
    def __init__(self, jobs: list[Job], retry_backoff_seconds: float = 0.0) -> None:
        self.queued: list[Job] = list(jobs)
        self.status: dict = {job.id: "queued" for job in jobs}
        self.completed: dict = {}
        self.errors: dict = {}
        self.retry_backoff_seconds = retry_backoff_seconds
        self._lock = threading.Lock()
        self._wake = threading.Event()

    def claim(self) -> Job | None:
        with self._lock:
            if not self.queued:
                return None
            job = self.queued.pop(0)
            job = replace(job, attempts=job.attempts + 1)
            self.status[job.id] = "running"
            return job

    def heartbeat(self, job: Job, progress: int) -> HeartbeatAnswer:
        return "ok" if self.status.get(job.id) == "running" else "lost"

    def complete(self, job: Job, bucket: str, path: str, nbytes: int) -> None:
        with self._lock:
            if self.status.get(job.id) not in ("running", "done"):
                raise LeaseLost(f"job {job.id} is {self.status.get(job.id)}")
            self.status[job.id] = "done"
            self.completed[job.id] = (bucket, path, nbytes)

    def fail(self, job: Job, error: str) -> datetime | None:
        with self._lock:
            self.errors[job.id] = error
            if job.attempts >= job.max_attempts:
                self.status[job.id] = "failed"
                return None
            self.status[job.id] = "queued"
            self.queued.append(job)
            return datetime.now(UTC) + timedelta(seconds=self.retry_backoff_seconds)

    def release(self, job: Job) -> None:
        with self._lock:
            self.status[job.id] = "queued"
            self.queued.insert(0, replace(job, attempts=job.attempts - 1))

    def wait_for_work(self, timeout: float) -> None:
        self._wake.wait(timeout)
        self._wake.clear()

    def close(self) -> None:
        pass
