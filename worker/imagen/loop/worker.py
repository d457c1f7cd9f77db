"""The worker loop: wake-up hint or poll timer → claim until empty → render → store → complete.

Rendering runs on the calling thread. A heartbeat thread extends the leases and reports
progress. On a GPU the render never waits for I/O: the next try is claimed, and the last one
encoded, stored and completed, on threads of their own while the current one renders.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from PIL import Image

from imagen.jobs import (
    BadSettings,
    Job,
    JobCancelled,
    JobQueue,
    LeaseLost,
    ProgressPublisher,
    RenderAborted,
    Renderer,
    Storage,
    user_error,
)
from imagen.monitoring.observer import Observer
from imagen.rendering.png import encode_png, job_metadata
from imagen.rendering.thumbnail import encode_thumbnail, thumbnail_path

log = logging.getLogger(__name__)
# A failing cleanup of deleted pictures is tried again (and logged) at most this often.
CLEANUP_RETRY_SECONDS = 60.0

ProgressHook = Callable[[Job, int], None]


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


@dataclass
class WorkerStats:
    done: int = 0
    failed: int = 0
    cancelled: int = 0
    lost: int = 0
    released: int = 0


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
        self.on_progress = on_progress
        # Per-step progress (with a small preview of the step's latents) for the people watching.
        self.progress = progress
        self.previews = previews
        self.observer = observer or Observer()  # metrics and health (imagen.monitoring.metrics), or nobody
        self.log_prompts = log_prompts  # users' words in the log only when the operator says so
        # Overlapping claims and stores with the render pays off when the render runs on a GPU (or
        # the queue is remote); on a CPU the render already uses every core and overlapping only
        # adds contention (measured in bench/render_overhead.py). None: decide from the renderer.
        self.overlap_io = overlap_io if overlap_io is not None else renderer.device != "cpu"
        self.heartbeat = Heartbeat(queue, heartbeat_interval)
        self.finisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imagen-finish")
        self.claimer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imagen-claim")
        # One try rendering and at most one being stored: memory stays bounded.
        self.in_flight = threading.BoundedSemaphore(2)
        self.stopping = threading.Event()
        self.stats = WorkerStats()
        self.current: Lease | None = None
        self._retry_at: datetime | None = None
        self._cleanup_after = 0.0  # monotonic time before which remove_deleted_objects does nothing
        self._stats_lock = threading.Lock()

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
                    self.remove_deleted_objects()  # idle: nothing waits on this
                if burst and not claimed and not self._retry_pending(looked_at):
                    break
                if not claimed:
                    self.queue.wait_for_work(self._next_wait())
        finally:
            self.finisher.shutdown(wait=True)
            self.claimer.shutdown(wait=True)
            self.heartbeat.stopped.set()
        return self.stats

    def remove_deleted_objects(self) -> int:
        """Removes the stored pictures of deleted series and images, then forgets them. After a
        failure the next idle moments skip it for CLEANUP_RETRY_SECONDS: a cleanup that keeps
        failing costs one call and one log line a minute, not one per poll."""
        if time.monotonic() < self._cleanup_after:
            return 0
        removed = 0
        try:
            while rows := self.queue.objects_to_delete():
                for row in rows:
                    if row["bucket"] == self.storage.bucket:  # another transport's pictures are not ours
                        self._delete_picture(row["path"])
                        removed += 1
                self.queue.forget_objects([row["id"] for row in rows])
        except Exception as exc:  # housekeeping must never stop the worker
            self._cleanup_after = time.monotonic() + CLEANUP_RETRY_SECONDS
            log.warning("removing deleted pictures failed, next try in %.0f s: %s", CLEANUP_RETRY_SECONDS, exc)
        if removed:
            log.info("removed %d pictures of deleted series and images", removed)
        return removed

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
                self._give_back(unused)
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

    def _give_back(self, lease: Lease) -> None:
        """A try that will not be rendered (shutting down): back to the queue, attempt not counted."""
        try:
            self.queue.release(lease.job)
            self._count("released")
            log.info("try released %s", lease.job.label)
        except LeaseLost:
            self._count("lost")
        except Exception as exc:
            self._unsettled("release", lease, exc)
        finally:
            self.heartbeat.drop(lease)

    def process(self, lease: Lease) -> None:
        job = lease.job
        self.current = lease
        if self.stopping.is_set():  # the signal came between the claim and the render
            lease.abort_reason = "shutdown"
        if lease.abort_reason is not None:  # cancelled while it waited its turn, or shutting down
            self.current = None
            self._settle_aborted(lease)
            return
        started = time.perf_counter()
        self.observer.started(job)
        prompt = f" prompt={json.dumps(job.prompt)}" if self.log_prompts else ""
        log.info("try started %s seed=%s attempt=%s%s", job.label, job.seed, job.attempts, prompt)

        def on_step(step: int, latents=None) -> bool:
            lease.progress = step
            self.observer.tick()
            if self.on_progress is not None:
                self.on_progress(job, step)
            if self.progress is not None:
                self.progress.publish(job, step, self._preview(job, latents))
            return lease.abort_reason is None

        try:
            if job.source_path is None:
                image = self.renderer.render(job, on_step)
            else:
                image = self.renderer.render(job, on_step, source=self._source(job))
        except RenderAborted:
            self._settle_aborted(lease)
            return
        except Exception as exc:
            self._fail(lease, exc)
            return
        finally:
            self.current = None
        render_seconds = time.perf_counter() - started
        self.observer.rendered(render_seconds)
        if not self.overlap_io:  # store before rendering the next try
            self._finish(lease, image, started, render_seconds)
            return
        self.finisher.submit(self._finish, lease, image, started, render_seconds).add_done_callback(self._log_crash)

    def _source(self, job: Job) -> Image.Image:
        """The picture a variation renders from (its series' parent picture, in our bucket)."""
        try:
            with Image.open(io.BytesIO(self.storage.get(job.source_path))) as picture:
                return picture.convert("RGB")
        except Exception as exc:
            log.warning("source picture %s of %s unreadable: %s", job.source_path, job.label, exc)
            raise BadSettings("the picture this try varies could not be read") from exc

    def _preview(self, job: Job, latents) -> Callable[[], bytes] | None:
        """The step's preview, started here and encoded by the publisher (see start_preview)."""
        if not (self.previews and self.progress.previews) or latents is None:
            return None
        from imagen.rendering.preview import start_preview  # torch: only renderers that pass latents have it

        try:
            return start_preview(latents, job.height, job.width)
        except Exception as exc:  # a preview is a nicety; the render goes on without it
            log.debug("no preview for %s: %s", job.label, exc)
            return None

    def _finish(self, lease: Lease, image: Image.Image, started: float, render_seconds: float) -> None:
        """On the finisher thread: encode, store, complete — overlapping the next render."""
        job = lease.job
        storing = time.perf_counter()
        try:
            data = encode_png(image, job_metadata(job, self.renderer.model))
            self.storage.put(job.storage_path, data)
            self._store_thumbnail(job, image)
            self.queue.complete(job, self.storage.bucket, job.storage_path, len(data))
            self.observer.stored(time.perf_counter() - storing)
        except (LeaseLost, JobCancelled) as exc:
            # The user cancelled (at completion, or by heartbeat while we stored): the picture goes.
            # Otherwise another worker owns the try now and writes the same path: leave it.
            cancelled = isinstance(exc, JobCancelled) or lease.abort_reason == "cancelled"
            if cancelled:
                self._delete_picture(job.storage_path)
            self._count("cancelled" if cancelled else "lost")
            log.info("try dropped %s: %s", job.label, exc)
        except Exception as exc:
            if self.stopping.is_set():  # the stop cut the store's retries short: not the try's fault
                lease.abort_reason = "shutdown"
                self._settle_aborted(lease)
            else:
                self._fail(lease, exc)
            return
        else:
            self._count("done")
            log.info(
                "try done %s seconds=%.3f render_seconds=%.3f bytes=%d",
                job.label, time.perf_counter() - started, render_seconds, len(data),
            )  # fmt: skip
        finally:
            self._release_slot(lease)

    def _store_thumbnail(self, job: Job, image: Image.Image) -> None:
        """The small picture screens load (imagen.rendering.thumbnail); without it they fall back to the PNG,
        so a thumbnail that cannot be made or stored never costs the try."""
        try:
            self.storage.put(thumbnail_path(job.storage_path), encode_thumbnail(image))
        except Exception as exc:
            if self.stopping.is_set():
                raise
            log.warning("no thumbnail for %s: %s", job.label, exc)

    def _delete_picture(self, path: str) -> None:
        self.storage.delete(path)
        self.storage.delete(thumbnail_path(path))

    def _settle_aborted(self, lease: Lease) -> None:
        try:
            if lease.abort_reason == "shutdown":
                self._give_back(lease)
            else:
                self._count("cancelled" if lease.abort_reason == "cancelled" else "lost")
        finally:
            self._release_slot(lease)

    def _fail(self, lease: Lease, exc: Exception) -> None:
        job = lease.job
        log.error("try failed %s attempt=%s: %s: %s", job.label, job.attempts, type(exc).__name__, exc)
        log.debug("%s", "".join(traceback.format_exception(exc)))
        try:
            retry_at = self.queue.fail(job, user_error(exc))
            if retry_at is None:
                self._count("failed")
            else:
                self.observer.ended("retried")
                self._retry_at = max(self._retry_at or retry_at, retry_at)
        except LeaseLost:
            self._count("lost")
        except Exception as exc:
            self._unsettled("fail", lease, exc)
        finally:
            self._release_slot(lease)

    def _unsettled(self, what: str, lease: Lease, exc: Exception) -> None:
        """Stopping, a try could not be handed back (the queue is unreachable): its lease expires
        and it runs again. Anywhere else the error is the caller's."""
        if not self.stopping.is_set():
            raise exc
        self._count("lost")
        log.warning("could not %s %s while stopping; it runs again once its lease expires: %s",
                    what, lease.job.label, exc)  # fmt: skip

    def _release_slot(self, lease: Lease) -> None:
        self.heartbeat.drop(lease)
        lease.done.set()
        self.in_flight.release()

    def _count(self, what: str) -> None:
        with self._stats_lock:
            setattr(self.stats, what, getattr(self.stats, what) + 1)
        self.observer.ended(what)

    def _retry_pending(self, looked_at: datetime) -> bool:
        """A try this worker failed falls due at or after `looked_at`, when the queue was last
        found empty: burst mode waits for it. (Not "after now": a retry that fell due between the
        empty claim and this check would be left in the queue.)"""
        self.in_flight.acquire()  # wait for the finisher: it may still fail its try
        self.in_flight.acquire()
        self.in_flight.release()
        self.in_flight.release()
        return self._retry_at is not None and self._retry_at >= looked_at

    def _next_wait(self) -> float:
        if self._retry_at is None:
            return self.poll_interval
        until_retry = (self._retry_at - datetime.now(UTC)).total_seconds()
        return max(0.0, min(self.poll_interval, until_retry))

    @staticmethod
    def _log_crash(future: Future) -> None:
        if exc := future.exception():
            log.error("finisher crashed: %r", exc)
