"""A claimed try, and the heartbeat thread that keeps the leases of every try this worker holds."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from imagen.jobs import Job, JobQueue

log = logging.getLogger(__name__)


@dataclass
class Lease:
    """One claimed try: progress flows out, an abort reason flows in."""

    job: Job
    progress: int = 0
    abort_reason: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


class Heartbeat(threading.Thread):
    """Extends the lease of every try this worker holds, at most every `interval` seconds."""

    def __init__(self, queue: JobQueue, interval: float) -> None:
        super().__init__(name="imagen-heartbeat", daemon=True)
        self.queue = queue
        self.interval = interval
        self.leases: dict = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()

    def hold(self, lease: Lease) -> None:
        with self.lock:
            self.leases[lease.job.id] = lease

    def drop(self, lease: Lease) -> None:
        with self.lock:
            self.leases.pop(lease.job.id, None)

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            with self.lock:
                held = list(self.leases.values())
            for lease in held:
                try:
                    answer = self.queue.heartbeat(lease.job, lease.progress)
                except Exception as exc:  # the database may be restarting; the lease has slack
                    log.warning("heartbeat failed %s: %s", lease.job.label, exc)
                    continue
                # A try completed while its heartbeat was in flight answers 'lost': not news.
                if answer != "ok" and lease.abort_reason is None and not lease.done.is_set():
                    lease.abort_reason = answer
                    log.info("try %s %s", answer, lease.job.label)
