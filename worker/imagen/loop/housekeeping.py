"""What the loop sees to between tries: removing the stored pictures of deleted series and images,
and remembering when the retries this worker caused fall due — the idle wait ends then, and a burst
worker does not exit before them."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from imagen.jobs import JobQueue, Storage
from imagen.loop.finisher import delete_picture

log = logging.getLogger(__name__)
# A failing cleanup of deleted pictures is tried again (and logged) at most this often.
CLEANUP_RETRY_SECONDS = 60.0


class Housekeeping:
    def __init__(self, queue: JobQueue, storage: Storage) -> None:
        self.queue = queue
        self.storage = storage
        self._cleanup_after = 0.0  # monotonic time before which remove_deleted_objects does nothing
        self._retry_at: datetime | None = None  # the latest retry this worker caused
        self._retry_lock = threading.Lock()  # the render thread and the finisher both fail tries

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
                        delete_picture(self.storage, row["path"])
                        removed += 1
                self.queue.forget_objects([row["id"] for row in rows])
        except Exception as exc:  # housekeeping must never stop the worker
            self._cleanup_after = time.monotonic() + CLEANUP_RETRY_SECONDS
            log.warning("removing deleted pictures failed, next try in %.0f s: %s", CLEANUP_RETRY_SECONDS, exc)
        if removed:
            log.info("removed %d pictures of deleted series and images", removed)
        return removed

    def retry_falls_due(self, at: datetime) -> None:
        """A try this worker failed runs again at `at` (the queue's backoff)."""
        with self._retry_lock:
            self._retry_at = max(self._retry_at or at, at)

    def retry_pending(self, looked_at: datetime) -> bool:
        """A retry this worker caused falls due at or after `looked_at`, when the queue was last
        found empty: burst mode waits for it. (Not "after now": a retry that fell due between the
        empty claim and this check would be left in the queue.) The caller waits for the finisher
        first: it may still fail its try."""
        return self._retry_at is not None and self._retry_at >= looked_at

    def next_wait(self, poll_interval: float) -> float:
        """How long an idle worker waits for a hint: the poll interval, or less when a retry falls
        due sooner."""
        if self._retry_at is None:
            return poll_interval
        until_retry = (self._retry_at - datetime.now(UTC)).total_seconds()
        return max(0.0, min(poll_interval, until_retry))
