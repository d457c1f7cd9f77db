"""How a try this worker holds ends when no picture of it is stored — handed back, failed (the queue
may give it another attempt), dropped (cancelled, lease lost) — and the tally of every ending.

The loop and the finisher both settle tries here, so each ending is written once. Whatever
happens, a settled try leaves the heartbeat and frees its slot."""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from imagen.jobs import JobQueue, LeaseLost, user_error
from imagen.loop.lease import Heartbeat, Lease
from imagen.monitoring.observer import Observer, Outcome

log = logging.getLogger(__name__)
# Tries a worker holds at once: one rendering and at most one being stored, so memory stays bounded.
IN_FLIGHT = 2


@dataclass
class WorkerStats:
    done: int = 0
    failed: int = 0
    cancelled: int = 0
    lost: int = 0
    released: int = 0


class Outcomes:
    def __init__(
        self,
        queue: JobQueue,
        heartbeat: Heartbeat,
        slots: threading.BoundedSemaphore,
        stopping: threading.Event,
        observer: Observer,
        on_retry: Callable[[datetime], None],
    ) -> None:
        self.queue = queue
        self.heartbeat = heartbeat
        self.slots = slots  # IN_FLIGHT of them: one per try rendering or being stored
        self.stopping = stopping
        self.observer = observer
        self.on_retry = on_retry  # told when a try this worker failed runs again
        self.stats = WorkerStats()
        self._lock = threading.Lock()

    def count(self, what: Outcome) -> None:
        with self._lock:
            setattr(self.stats, what, getattr(self.stats, what) + 1)
        self.observer.ended(what)

    def give_back(self, lease: Lease) -> None:
        """A try that will not be rendered (shutting down): back to the queue, attempt not counted.
        Its slot is the caller's: a try claimed ahead holds none yet."""
        try:
            self.queue.release(lease.job)
            self.count("released")
            log.info("try released %s", lease.job.label)
        except LeaseLost:
            self.count("lost")
        except Exception as exc:
            self._unsettled("release", lease, exc)
        finally:
            self.heartbeat.drop(lease)

    def aborted(self, lease: Lease) -> None:
        """A try stopped by its abort reason: a shutdown hands it back, a cancel or a lost lease
        only counts (the queue already knows)."""
        try:
            if lease.abort_reason == "shutdown":
                self.give_back(lease)
            else:
                self.count("cancelled" if lease.abort_reason == "cancelled" else "lost")
        finally:
            self.free(lease)

    def fail(self, lease: Lease, exc: Exception) -> None:
        job = lease.job
        log.error("try failed %s attempt=%s: %s: %s", job.label, job.attempts, type(exc).__name__, exc)
        log.debug("%s", "".join(traceback.format_exception(exc)))
        try:
            retry_at = self.queue.fail(job, user_error(exc))
            if retry_at is None:
                self.count("failed")
            else:
                self.observer.ended("retried")
                self.on_retry(retry_at)
        except LeaseLost:
            self.count("lost")
        except Exception as exc:
            self._unsettled("fail", lease, exc)
        finally:
            self.free(lease)

    def free(self, lease: Lease) -> None:
        """The try is settled: no more heartbeats for it, and its slot goes to the next. Once per
        try: the finisher frees in its `finally` a try that fail() or aborted() already freed, and a
        slot freed twice would let three tries in flight (or raise, when none other is held)."""
        if lease.done.is_set():
            return
        self.heartbeat.drop(lease)
        lease.done.set()
        self.slots.release()

    def wait_until_settled(self) -> None:
        """Returns once no try holds a slot: none renders, none is being stored."""
        for _ in range(IN_FLIGHT):
            self.slots.acquire()
        for _ in range(IN_FLIGHT):
            self.slots.release()

    def _unsettled(self, what: str, lease: Lease, exc: Exception) -> None:
        """Stopping, a try could not be handed back (the queue is unreachable): its lease expires
        and it runs again. Anywhere else the error is the caller's."""
        if not self.stopping.is_set():
            raise exc
        self.count("lost")
        log.warning("could not %s %s while stopping; it runs again once its lease expires: %s",
                    what, lease.job.label, exc)  # fmt: skip
