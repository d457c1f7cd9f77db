"""Per-step progress (and previews) on a private Broadcast topic per series, `series:<id>`.

The render thread only drops the latest step of each try into a slot; a thread of its own encodes
the step's preview and sends what is there, so neither JPEG encoding nor a slow or failing
Realtime holds up a step, and a burst of steps while a send is in flight goes out as one message
per try (the newest; older previews are never encoded). Losing a progress message is harmless:
state changes stay row updates that a page re-reads.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable

from imagen.jobs import Job
from imagen.observer import Observer

log = logging.getLogger(__name__)

Send = Callable[[list[dict]], None]


def series_topic(series_id: object) -> str:
    return f"series:{series_id}"


class BroadcastProgress:
    observer: Observer = Observer()  # told of messages sent and dropped (imagen.metrics)

    def __init__(self, send: Send, previews: bool = True) -> None:
        self._send = send
        self.previews = previews
        self._latest: dict[object, dict] = {}
        self._ready = threading.Condition()
        self._closed = False
        self.sent = 0
        self._thread = threading.Thread(target=self._run, name="imagen-progress", daemon=True)
        self._thread.start()

    def publish(self, job: Job, step: int, preview: Callable[[], bytes] | None = None) -> None:
        """Never blocks. Solo tries have no series topic: their row is their progress."""
        if job.series_id is None:
            return
        with self._ready:
            if job.id in self._latest:  # the step before never went out
                self.observer.progress_dropped("coalesced")
            self._latest[job.id] = (job, step, preview)
            self._ready.notify()

    @staticmethod
    def message(job: Job, step: int, preview: Callable[[], bytes] | None) -> dict:
        payload = {"job_id": str(job.id), "series_idx": job.series_idx, "step": step, "steps": job.steps}
        if preview is not None:
            try:
                payload["preview_jpeg"] = base64.b64encode(preview()).decode()
            except Exception as exc:  # a preview is a nicety; the progress goes without it
                log.debug("no preview for %s: %s", job.label, exc)
        return {"topic": series_topic(job.series_id), "event": "progress", "payload": payload, "private": True}

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._latest and not self._closed:
                    self._ready.wait()
                if self._closed and not self._latest:
                    return
                latest, self._latest = list(self._latest.values()), {}
            try:
                batch = [self.message(*entry) for entry in latest]
                self._send(batch)
                self.sent += len(batch)
                self.observer.progress_sent(len(batch))
            except Exception as exc:  # progress is best effort; the next step tries again
                log.warning("progress broadcast failed: %s", exc)
                self.observer.progress_dropped("failed", len(latest))

    def close(self, timeout: float = 5.0) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join(timeout)
