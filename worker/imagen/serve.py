"""`imagen worker`: settings → transport, the resident pipeline, the loop, signal handlers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from imagen.config import Settings
from imagen.loop.worker import Worker, WorkerStats
from imagen.monitoring.status_server import watched
from imagen.signals import Stopped, on_stop, raise_stopped
from imagen.transports import open_progress, open_transport

log = logging.getLogger("imagen")


def serve(settings: Settings, burst: bool = False) -> WorkerStats:
    # A project or database that cannot work stops us here, before the model loads or Realtime connects.
    queue, storage = open_transport(settings, checked=True)
    progress = open_progress(queue, settings.progress_rate)
    worker: Worker | None = None
    stop_while_starting: list[int] = []

    def on_signal(signum: int) -> None:
        if worker is None:  # still starting, nothing held: stop loading at once
            stop_while_starting.append(signum)
            raise_stopped(signum)
        worker.observer.lifecycle("stopping")
        worker.stop()

    try:
        with on_stop(on_signal), watched(settings, queue, storage, progress) as observer:
            with stopping_for_good(stop_while_starting):
                from imagen.rendering.render import DiffusersRenderer  # torch (seconds): only once the transport works

                renderer = DiffusersRenderer.from_settings(settings)
                queue.kinds = sorted(renderer.kinds)  # the claim hands this worker only what it renders
                observer.describe(
                    device=renderer.device, compile=compile_mode(settings), memory_mode=renderer.memory_mode
                )
                observer.lifecycle("warming")
                renderer.warm_up(settings.sizes)  # compiling: every served size compiled before the first claim
            worker = Worker(
                queue,
                storage,
                renderer,
                poll_interval=settings.poll_interval,
                heartbeat_interval=settings.heartbeat_interval,
                progress=progress,
                previews=settings.previews,
                observer=observer,
                log_prompts=settings.log_prompts,
            )
            log.info("worker %s ready transport=%s burst=%s", settings.worker_id, settings.transport, burst)
            observer.lifecycle("serving")
            stats = worker.run(burst=burst)
            observer.lifecycle("stopping")
        log.info("worker stopped %s", stats)
        return stats
    finally:
        if progress is not None:
            progress.close()
        queue.close()


@contextmanager
def stopping_for_good(signals_received: list[int]) -> Iterator[None]:
    """A stop while starting is raised wherever the main thread is, which may be inside an import or
    inside C code that calls back into Python: there it can vanish (an error the C code clears), or
    turn into another error (an extension module imported halfway: "cannot load module more than
    once per process"). Whatever came of it, once a stop signal arrived the start ends as Stopped."""
    try:
        yield
    except BaseException as exc:
        if signals_received and not isinstance(exc, Stopped):
            raise Stopped(signals_received[0]) from exc
        raise
    if signals_received:
        raise Stopped(signals_received[0])


def compile_mode(settings: Settings) -> str:
    """The compile settings in one word for the info metric: off, or scope,shapes,mode."""
    if not settings.compile:
        return "off"
    shapes = "dynamic" if settings.compile_dynamic else "per-size"
    return f"{settings.compile_scope},{shapes},{settings.compile_mode or 'default'}"
