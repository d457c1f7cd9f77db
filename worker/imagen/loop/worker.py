"""The worker loop: wake-up hint or poll timer → claim until empty → render → hand the picture to the
finisher (imagen.loop.finisher), which stores and completes it.

Rendering runs on the calling thread. A heartbeat thread extends the leases and reports
progress. On a GPU the render never waits for I/O: the next try is claimed, and the last one
encoded, stored and completed, on threads of their own while the current one renders. How a try
that is not stored ends is imagen.loop.outcomes; what the loop does while idle, imagen.loop.housekeeping.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

from imagen.jobs import JobQueue, ProgressPublisher, RenderAborted, Renderer, Storage
from imagen.loop.finisher import Finisher
from imagen.loop.housekeeping import Housekeeping
from imagen.loop.lease import Heartbeat, Lease
from imagen.loop.outcomes import IN_FLIGHT, Outcomes, WorkerStats
from imagen.loop.steps import ProgressHook, StepReports
from imagen.monitoring.observer import Observer
from imagen.transports.inputs import fetch_inputs

log = logging.getLogger(__name__)


class Worker:
    def __init__(
        self,
        queue: JobQueue,
        storage: Storage,
        renderer: Renderer,
        *,
        poll_interval: float = 2.0,
        heartbeat_interval: float = 1.0,
        on_progress: ProgressHook | None = None,
        overlap_io: bool | None = None,
        progress: ProgressPublisher | None = None,
        previews: bool = True,
        observer: Observer | None = None,
        log_prompts: bool = False,
    ) -> None:
        self.queue = queue
        self.storage = storage
        self.renderer = renderer
        self.poll_interval = poll_interval
        self.observer = observer or Observer()  # metrics and health (imagen.monitoring), or nobody
        self.steps = StepReports(self.observer, progress, previews, on_progress)
        self.log_prompts = log_prompts  # users' words in the log only when the operator says so
        # Overlapping claims and stores with the render pays off when the render runs on a GPU (or
        # the queue is remote); on a CPU the render already uses every core and overlapping only
        # adds contention (measured in bench/render_overhead.py). None: decide from the renderer.
        self.overlap_io = overlap_io if overlap_io is not None else renderer.device != "cpu"
        self.heartbeat = Heartbeat(queue, heartbeat_interval)
        self.claimer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imagen-claim")
        self.in_flight = threading.BoundedSemaphore(IN_FLIGHT)
        self.stopping = threading.Event()
        self.housekeeping = Housekeeping(queue, storage)
        self.outcomes = Outcomes(queue, self.heartbeat, self.in_flight, self.stopping, self.observer,
                                 on_retry=self.housekeeping.retry_falls_due)  # fmt: skip
        self.finisher = Finisher(queue, storage, self.outcomes, self.stopping, self.observer, renderer.model)
        self.current: Lease | None = None

    @property
    def stats(self) -> WorkerStats:
        return self.outcomes.stats

    def stop(self, *_: object) -> None:
        """SIGTERM/SIGINT: stop the current render at its next step, release it, and exit. Safe
        in a signal handler: it only sets flags and wakes waits, whatever state the loop is in."""
        if not self.stopping.is_set():
            log.info("stopping: the current try is released back to the queue")
        self.stopping.set()
        # process() sets `current` before it looks at `stopping`: one of the two sees the other.
        if (lease := self.current) is not None:
            lease.abort_reason = "shutdown"
        self.queue.interrupt()  # an idle wait or a retry's backoff ends now

    def run(self, burst: bool = False) -> WorkerStats:
        """Processes tries until stopped; with burst, until nothing is left to claim."""
        self.heartbeat.start()
        try:
            while not self.stopping.is_set():
                self.observer.tick()
                looked_at = datetime.now(UTC)
                claimed = self.drain()
                if not claimed and not self.stopping.is_set():
                    self.housekeeping.remove_deleted_objects()  # idle: nothing waits on this
                if burst and not claimed:
                    self.outcomes.wait_until_settled()  # the finisher may still fail its try
                    if not self.housekeeping.retry_pending(looked_at):
                        break
                if not claimed:
                    self.queue.wait_for_work(self.housekeeping.next_wait(self.poll_interval))
        finally:
            self.finisher.shutdown()
            self.claimer.shutdown(wait=True)
            self.heartbeat.stopped.set()
        return self.stats

    def drain(self) -> int:
        """Claims and renders until the queue has nothing runnable; returns how many it took."""
        count = 0
        ahead: Future | None = None
        try:
            while not self.stopping.is_set():
                self.in_flight.acquire()
                lease = ahead.result() if ahead is not None else self._claim()
                ahead = None
                if lease is None:
                    self.in_flight.release()
                    return count
                count += 1
                if self.overlap_io:  # the next try is claimed while this one renders
                    ahead = self.claimer.submit(self._claim)
                self.process(lease)
        finally:
            if ahead is not None and (unused := ahead.result()) is not None:
                self.outcomes.give_back(unused)
        return count

    def _claim(self) -> Lease | None:
        try:
            job = self.queue.claim()
        except Exception:
            if self.stopping.is_set():  # a claim that was retrying when the signal came
                return None
            raise
        if job is None:
            return None
        lease = Lease(job)
        self.heartbeat.hold(lease)  # ours from this moment: keep the lease alive
        return lease

    def process(self, lease: Lease) -> None:
        job = lease.job
        self.current = lease
        if self.stopping.is_set():  # the signal came between the claim and the render
            lease.abort_reason = "shutdown"
        if lease.abort_reason is not None:  # cancelled while it waited its turn, or shutting down
            self.current = None
            self.outcomes.aborted(lease)
            return
        started = time.perf_counter()
        self.observer.started(job)
        prompt = f" prompt={json.dumps(job.prompt)}" if self.log_prompts else ""
        log.info("try started %s seed=%s attempt=%s%s", job.label, job.seed, job.attempts, prompt)
        on_step = self.steps.callback(lease)
        try:
            image = self.renderer.render(job, on_step, **fetch_inputs(self.storage, job))
        except RenderAborted:
            self.outcomes.aborted(lease)
            return
        except Exception as exc:
            self.outcomes.fail(lease, exc)
            return
        finally:
            self.current = None
        render_seconds = time.perf_counter() - started
        self.observer.rendered(render_seconds)
        # On the finisher's thread the store overlaps the next render; inline, it comes before it.
        finish = self.finisher.finish_later if self.overlap_io else self.finisher.finish
        finish(lease, image, started, render_seconds)
