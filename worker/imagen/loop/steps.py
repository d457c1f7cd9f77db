"""What each step of a render tells: the try's progress (which the heartbeat sends), the observer's
liveness tick, the caller's hook, and the progress publisher's step with a small preview of the
step's latents. The callback's answer says whether the render goes on."""

from __future__ import annotations

import logging
from collections.abc import Callable

from imagen.jobs import Job, ProgressPublisher
from imagen.loop.lease import Lease
from imagen.monitoring.observer import Observer

log = logging.getLogger(__name__)

ProgressHook = Callable[[Job, int], None]


class StepReports:
    def __init__(
        self,
        observer: Observer,
        progress: ProgressPublisher | None = None,
        previews: bool = True,
        on_progress: ProgressHook | None = None,
    ) -> None:
        self.observer = observer
        self.progress = progress  # per-step progress for the people watching, or nobody
        self.previews = previews
        self.on_progress = on_progress

    def callback(self, lease: Lease) -> Callable[..., bool]:
        """The render's on_step for this try: False once the try has a reason to stop."""
        job = lease.job

        def on_step(step: int, latents=None, size: tuple[int, int] | None = None) -> bool:
            lease.progress = step
            self.observer.tick()
            if self.on_progress is not None:
                self.on_progress(job, step)
            if self.progress is not None:
                preview = step_preview(job, latents, size) if self.previews and self.progress.previews else None
                self.progress.publish(job, step, preview)
            return lease.abort_reason is None

        return on_step


def step_preview(job: Job, latents, size: tuple[int, int] | None = None) -> Callable[[], bytes] | None:
    """The step's preview, started here and encoded by the publisher (see start_preview): of the
    latents of a picture of `size` (height, width; an upscale's tile), the try's by default."""
    if latents is None:
        return None
    from imagen.rendering.preview import start_preview  # torch: only renderers that pass latents have it

    try:
        return start_preview(latents, *(size or (job.height, job.width)))
    except Exception as exc:  # a preview is a nicety; the render goes on without it
        log.debug("no preview for %s: %s", job.label, exc)
        return None
