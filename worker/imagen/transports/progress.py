"""Per-step progress (and previews) on a private Broadcast topic per series, `series:<id>`.

The render thread only drops the latest step of each try into a slot; a thread of its own encodes
the step's preview and sends what is there, so neither JPEG encoding nor a slow or failing
Realtime holds up a step, and a burst of steps while a send is in flight goes out as one message
per try (the newest; older previews are never encoded). Losing a progress message is harmless:
state changes stay row updates that a page re-reads.

The sends are bounded to `rate` messages a second (IMAGEN_PROGRESS_RATE): Realtime counts every
message once when it is sent and once more for each channel it reaches, against the project's
messages-per-second quota (Free 100), and closes the viewers' channels when it is over. Steps
that come faster are coalesced, the newest kept. A refused or failed send (429 over the quota, an
outage) pauses the sends with a doubling back-off instead of trying at every step; the render
never waits for any of it, and a try's attempts are never touched.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable

from imagen.jobs import DEFAULT_PROGRESS_RATE, Job
from imagen.monitoring.observer import Observer

log = logging.getLogger(__name__)

Send = Callable[[list[dict]], None]
# After a failed send the sends pause, first for one rate period (the next send was due then
# anyway), doubling up to LONGEST_PAUSE seconds. A try on a GPU lasts about a second: a longer
# first pause after one refused message (a quota that tripped for a moment) would lose the
# progress of the tries that start meanwhile; a quota that stays over costs a refused send at
# 0.5, 1, 2, ... 60 s (at the default rate), a dozen in the first minutes.
LONGEST_PAUSE = 60.0


def series_topic(series_id: object) -> str:
    return f"series:{series_id}"


class BroadcastProgress:
    observer: Observer = Observer()  # told of messages sent and dropped (imagen.monitoring.metrics)

    def __init__(self, send: Send, previews: bool = True, rate: float = DEFAULT_PROGRESS_RATE) -> None:
        if rate <= 0:
            raise ValueError(f"the progress rate must be positive, got {rate}")
        self._send = send
        self.previews = previews
        self.rate = rate
        self._latest: dict[object, dict] = {}
        self._ready = threading.Condition()
        self._closed = False
        self._next_send = 0.0  # monotonic time before which nothing is sent (the rate, a back-off)
        self._pause = 0.0  # the current back-off; 0 while sends succeed
        self._warned_at = -LONGEST_PAUSE
        self.sent = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name="imagen-progress", daemon=True)
        self._thread.start()

    def publish(self, job: Job, step: int, preview: Callable[[], bytes] | None = None) -> None:
        """Never blocks. Solo tries have no series topic: their row is their progress."""
        if job.series_id is None:
            return
        with self._ready:
            if job.id in self._latest:  # the step before never went out (the rate bound, a pause)
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

    def _due(self) -> bool:
        """Something to send and its time has come (closing flushes at once)."""
        return bool(self._latest) and (self._closed or time.monotonic() >= self._next_send)

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._due() and not (self._closed and not self._latest):
                    wait = self._next_send - time.monotonic() if self._latest else None
                    self._ready.wait(None if wait is None else max(wait, 0.0))
                if self._closed and not self._latest:
                    return
                latest, self._latest = list(self._latest.values()), {}
            batch: list[dict] = []
            try:
                batch = [self.message(*entry) for entry in latest]
                self._send(batch)
            except Exception as exc:  # progress is best effort: pause, then the newest step goes
                self._failed(exc, len(batch) or len(latest))
            else:
                self.sent += len(batch)
                self.observer.progress_sent(len(batch))
                self._pause = 0.0
                self._next_send = time.monotonic() + len(batch) / self.rate

    def _failed(self, exc: Exception, count: int) -> None:
        self.failed += count
        self.observer.progress_dropped("failed", count)
        self._pause = min(max(self._pause * 2, 1 / self.rate), LONGEST_PAUSE)
        self._next_send = time.monotonic() + self._pause
        now = time.monotonic()
        if now - self._warned_at >= LONGEST_PAUSE:  # one line a minute, however long it lasts
            self._warned_at = now
            over = " (over the project's Realtime quota)" if getattr(exc, "code", None) == "429" else ""
            log.warning("progress broadcast failed%s, pausing it %g s: %s", over, self._pause, exc)

    def close(self, timeout: float = 5.0) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._thread.join(timeout)
