"""The supabase transport: the worker RPCs over PostgREST with the service role, wake-ups over
Realtime. Nothing here knows whether SUPABASE_URL is a real project or a stand-in."""

from __future__ import annotations

import threading
from datetime import datetime

from imagen.jobs import HeartbeatAnswer, Job, JobCancelled
from imagen.realtime_wakeups import RealtimeWakeups
from imagen.supabase_project import SupabaseProject


class SupabaseQueue:
    def __init__(
        self,
        project: SupabaseProject,
        worker_id: str,
        lease_seconds: float = 60,
        retry_backoff_seconds: float = 2.0,
        watchdog_interval: float = 5.0,
    ) -> None:
        self.project = project
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.retry_backoff_seconds = retry_backoff_seconds
        self._wake = threading.Event()
        self._wake.set()  # claim on start
        self.wakeups = RealtimeWakeups(
            project.loop,
            project.url,
            project.key.get_secret_value(),
            self._wake,
            watchdog_interval=watchdog_interval,
            ping_timeout=min(5.0, watchdog_interval),
        )

    def _rpc(self, fn: str, params: dict, *, retry: bool = True):
        return self.project.call(lambda: self.project.rpc(fn, params), fn, retry=retry)

    def wait_for_work(self, timeout: float) -> None:
        self._wake.wait(timeout)
        self._wake.clear()

    def claim(self) -> Job | None:
        rows = self._rpc("claim_job", {"worker_id": self.worker_id, "lease_seconds": self.lease_seconds})
        return Job.from_row(rows[0]) if rows else None

    def heartbeat(self, job: Job, progress: int) -> HeartbeatAnswer:
        params = {"job_id": str(job.id), "worker_id": self.worker_id, "progress": progress,
                  "lease_seconds": self.lease_seconds}  # fmt: skip
        return self._rpc("heartbeat_job", params, retry=False)

    def complete(self, job: Job, bucket: str, path: str, nbytes: int) -> None:
        image = self._rpc("complete_job", {"job_id": str(job.id), "worker_id": self.worker_id, "bucket": bucket,
                                           "path": path, "bytes": nbytes})  # fmt: skip
        if not image or image.get("id") is None:
            raise JobCancelled(f"job {job.id} was cancelled while it rendered")

    def fail(self, job: Job, error: str) -> datetime | None:
        row = self._rpc("fail_job", {"job_id": str(job.id), "worker_id": self.worker_id, "error": error,
                                     "backoff_seconds": self.retry_backoff_seconds})  # fmt: skip
        return datetime.fromisoformat(row["run_after"]) if row["status"] == "queued" else None

    def release(self, job: Job) -> None:
        self._rpc("release_job", {"job_id": str(job.id), "worker_id": self.worker_id})

    def close(self) -> None:
        self.wakeups.close()
        self.project.close()
