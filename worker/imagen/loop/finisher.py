"""A rendered picture's way out: encode the PNG (the try's settings in its text chunks), store it and
its thumbnail, complete the try. On a GPU this runs on a thread of its own while the next try
renders; a try cancelled or lost meanwhile is settled here too, and a cancelled try's picture goes."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from PIL import Image

from imagen.jobs import Job, JobCancelled, JobQueue, LeaseLost, Storage
from imagen.loop.lease import Lease
from imagen.loop.outcomes import Outcomes
from imagen.monitoring.observer import Observer
from imagen.rendering.png import encode_png, job_metadata
from imagen.rendering.thumbnail import encode_thumbnail, thumbnail_path

log = logging.getLogger(__name__)


def delete_picture(storage: Storage, path: str) -> None:
    """A stored picture and its thumbnail."""
    storage.delete(path)
    storage.delete(thumbnail_path(path))


class Finisher:
    def __init__(
        self,
        queue: JobQueue,
        storage: Storage,
        outcomes: Outcomes,
        stopping: threading.Event,
        observer: Observer,
        model: str,
    ) -> None:
        self.queue = queue
        self.storage = storage
        self.outcomes = outcomes
        self.stopping = stopping
        self.observer = observer
        self.model = model  # what the PNG's metadata records
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imagen-finish")

    def finish_later(self, lease: Lease, image: Image.Image, started: float, render_seconds: float) -> None:
        """finish() on the finisher thread: the caller goes on to render the next try."""
        self.pool.submit(self.finish, lease, image, started, render_seconds).add_done_callback(_log_crash)

    def finish(self, lease: Lease, image: Image.Image, started: float, render_seconds: float) -> None:
        """Encode, store, complete; `started`: when the render began, for the log's total."""
        job = lease.job
        storing = time.perf_counter()
        try:
            data = encode_png(image, job_metadata(job, self.model, image))
            self.storage.put(job.storage_path, data)
            self._store_thumbnail(job, image)
            self.queue.complete(job, self.storage.bucket, job.storage_path, len(data))
            self.observer.stored(time.perf_counter() - storing)
        except (LeaseLost, JobCancelled) as exc:
            # The user cancelled (at completion, or by heartbeat while we stored): the picture goes.
            # Otherwise another worker owns the try now and writes the same path: leave it.
            cancelled = isinstance(exc, JobCancelled) or lease.abort_reason == "cancelled"
            if cancelled:
                delete_picture(self.storage, job.storage_path)
            self.outcomes.count("cancelled" if cancelled else "lost")
            log.info("try dropped %s: %s", job.label, exc)
        except Exception as exc:
            if self.stopping.is_set():  # the stop cut the store's retries short: not the try's fault
                lease.abort_reason = "shutdown"
                self.outcomes.aborted(lease)
            else:
                self.outcomes.fail(lease, exc)
            return
        else:
            self.outcomes.count("done")
            log.info(
                "try done %s seconds=%.3f render_seconds=%.3f bytes=%d",
                job.label, time.perf_counter() - started, render_seconds, len(data),
            )  # fmt: skip
        finally:
            self.outcomes.free(lease)

    def shutdown(self) -> None:
        """Waits for the picture being stored, if any."""
        self.pool.shutdown(wait=True)

    def _store_thumbnail(self, job: Job, image: Image.Image) -> None:
        """The small picture screens load (imagen.rendering.thumbnail); without it they fall back to
        the PNG, so a thumbnail that cannot be made or stored never costs the try."""
        try:
            self.storage.put(thumbnail_path(job.storage_path), encode_thumbnail(image))
        except Exception as exc:
            if self.stopping.is_set():
                raise
            log.warning("no thumbnail for %s: %s", job.label, exc)


def _log_crash(future: Future) -> None:
    if exc := future.exception():
        log.error("finisher crashed: %r", exc)
