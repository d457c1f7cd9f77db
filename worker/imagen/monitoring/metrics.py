"""The worker's Prometheus metrics and health, fed by the Observer hooks (imagen.monitoring.observer).

Every figure is a counter, a histogram or a gauge set where the event happens: a scrape only
reads them. Queue depth comes from the database (imagen.queue_overview) on a thread of its own
every `queue_interval` seconds, never per scrape; GPU memory is read from torch's allocator at
scrape time where CUDA is present. Labels are bounded: this worker's model, an outcome, a call
name, an error code, never a user, a try or a prompt.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, Info
from prometheus_client.core import GaugeMetricFamily

from imagen.monitoring.observer import Lifecycle, Observer, Outcome

log = logging.getLogger(__name__)

# A FLUX.1-schnell try renders in 0.3-10 s depending on the GPU and the size.
RENDER_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 30, 60)
# Claims and stores are round trips: milliseconds on a direct connection, more over the API.
CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# A try may wait seconds behind a busy fleet or hours behind a long queue.
WAIT_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
LIFECYCLE: tuple[Lifecycle, ...] = ("loading", "warming", "serving", "stopping")


def imagen_version() -> str:
    try:
        return version("imagen")
    except PackageNotFoundError:
        return "unknown"


class GpuMemory:
    """imagen_gpu_memory_*_bytes from torch's caching allocator, read at scrape time (no sync),
    only where torch is already loaded and CUDA is present."""

    def __init__(self, device: str) -> None:
        self.device = device

    def collect(self):
        torch = sys.modules.get("torch")
        if torch is None or not self.device.startswith("cuda") or not torch.cuda.is_available():
            return
        used = GaugeMetricFamily("imagen_gpu_memory_used_bytes", "GPU memory held by tensors now.", labels=["device"])
        peak = GaugeMetricFamily("imagen_gpu_memory_peak_bytes", "Most GPU memory held by tensors since start.",
                                 labels=["device"])  # fmt: skip
        used.add_metric([self.device], torch.cuda.memory_allocated(self.device))
        peak.add_metric([self.device], torch.cuda.max_memory_allocated(self.device))
        yield used
        yield peak


class WorkerMetrics(Observer):
    """An Observer that counts for Prometheus and answers the health probes."""

    def __init__(self, *, worker_id: str, model: str, stall_seconds: float = 120.0,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.registry = CollectorRegistry()
        self.worker_id = worker_id
        self.model = model
        self.stall_seconds = stall_seconds
        self._clock = clock
        self.last_tick: float | None = None  # None until the loop starts
        self.reachable = True  # the queue's last call answered
        self.state: Lifecycle = "loading"
        r = self.registry
        self._gpu = GpuMemory("cpu")
        r.register(self._gpu)
        self._info = Info("imagen_worker", "This worker: model, device, compile and memory modes, version.", registry=r)
        self.describe(device="unknown", compile="unknown", memory_mode="unknown")  # until the model is loaded
        self._state = Enum("imagen_worker_state", "The worker's phase.", states=list(LIFECYCLE), registry=r)
        self._state.state("loading")
        started = Counter("imagen_tries_started", "Renders started.", ["model"], registry=r)
        self._started = started.labels(model)
        ended = Counter("imagen_tries_ended", "Tries this worker held, by how they ended.", ["model", "outcome"],
                        registry=r)  # fmt: skip
        self._ended = {o: ended.labels(model, o) for o in get_args(Outcome)}
        self._render = Histogram("imagen_render_seconds", "Render time of a try.", ["model"],
                                 buckets=RENDER_BUCKETS, registry=r).labels(model)  # fmt: skip
        self._store = Histogram("imagen_store_seconds", "Encode, store and complete a rendered try.", ["model"],
                                buckets=CALL_BUCKETS, registry=r).labels(model)  # fmt: skip
        self._claim = Histogram("imagen_claim_seconds", "One claim call (retries included), with or without a try.",
                                buckets=CALL_BUCKETS, registry=r)  # fmt: skip
        self._wait = Histogram("imagen_queue_wait_seconds", "From queued to claimed, per try claimed.",
                               buckets=WAIT_BUCKETS, registry=r)  # fmt: skip
        self._retries = Counter("imagen_call_retries", "Calls retried after a transient failure, by call and code.",
                                ["call", "code"], registry=r)  # fmt: skip
        self._progress_sent = Counter("imagen_progress_messages_sent", "Progress messages sent.", registry=r)
        dropped = Counter("imagen_progress_messages_dropped", "Progress messages never sent, by why.", ["reason"],
                          registry=r)  # fmt: skip
        self._dropped = {reason: dropped.labels(reason) for reason in ("coalesced", "failed")}
        self.queue_runnable = Gauge("imagen_queue_runnable_tries", "Tries a claim would hand out now (sampled).",
                                    registry=r)  # fmt: skip
        self.queue_running = Gauge("imagen_queue_running_tries", "Tries being rendered by the fleet (sampled).",
                                   registry=r)  # fmt: skip
        self.queue_oldest_wait = Gauge("imagen_queue_oldest_wait_seconds",
                                       "How long the oldest runnable try waited (sampled).", registry=r)  # fmt: skip
        self.queue_sampled_at = Gauge("imagen_queue_sampled_timestamp_seconds",
                                      "When the queue was last read (Unix time).", registry=r)  # fmt: skip

    def describe(self, *, device: str, compile: str, memory_mode: str = "full") -> None:
        """What the loaded renderer runs on (the info metric; GPU memory is read for `device`)."""
        self._info.info({"worker": self.worker_id, "model": self.model, "device": device, "compile": compile,
                         "memory_mode": memory_mode, "version": imagen_version()})  # fmt: skip
        self._gpu.device = device

    # -- the hooks ---------------------------------------------------------------------------

    def lifecycle(self, state: Lifecycle) -> None:
        self.state = state
        self._state.state(state)
        if state == "serving":
            self.tick()

    def tick(self) -> None:
        self.last_tick = self._clock()

    def claimed(self, seconds: float, waited: float | None) -> None:
        self.tick()
        self._claim.observe(seconds)
        if waited is not None:
            self._wait.observe(max(waited, 0.0))

    def started(self, job) -> None:
        self._started.inc()

    def rendered(self, seconds: float) -> None:
        self._render.observe(seconds)

    def stored(self, seconds: float) -> None:
        self._store.observe(seconds)

    def ended(self, outcome: Outcome) -> None:
        self._ended[outcome].inc()

    def answered(self) -> None:
        self.reachable = True

    def unanswered(self, call: str, code: str, retrying: bool) -> None:
        self.reachable = False
        if retrying:
            self.tick()  # the loop is alive, waiting for the queue to come back
            self._retries.labels(call, code).inc()

    def progress_sent(self, messages: int) -> None:
        self._progress_sent.inc(messages)

    def progress_dropped(self, reason: str, messages: int = 1) -> None:
        self._dropped[reason].inc(messages)

    # -- what the probes answer ------------------------------------------------------------

    def alive(self) -> tuple[bool, str]:
        """Alive: the loop ticked within stall_seconds. Loading and warming up count as alive
        (they take minutes with a compile; a supervisor gives the start a budget of its own)."""
        if self.last_tick is None:
            return True, self.state
        idle = self._clock() - self.last_tick
        if idle > self.stall_seconds:
            return False, f"the loop has not ticked for {idle:.0f} s"
        return True, self.state

    def ready(self) -> tuple[bool, str]:
        """Ready: the model is loaded and warm, the loop serves, and the queue answers."""
        if self.state != "serving":
            return False, self.state
        if not self.reachable:
            return False, "the queue does not answer"
        return True, "serving"

    def sample_queue(self, overview: dict) -> None:
        self.queue_runnable.set(overview["runnable"])
        self.queue_running.set(overview["running"])
        self.queue_oldest_wait.set(overview["oldest_wait_seconds"] or 0)
        self.queue_sampled_at.set_to_current_time()


class QueueSampler(threading.Thread):
    """Reads the queue's depth every `interval` seconds into `metrics` (one small query a worker)."""

    def __init__(self, read: Callable[[], dict], metrics: WorkerMetrics, interval: float) -> None:
        super().__init__(name="imagen-queue-sampler", daemon=True)
        self.read = read
        self.metrics = metrics
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                self.metrics.sample_queue(self.read())
            except Exception as exc:  # a metric is never worth stopping for; the next sample retries
                log.debug("queue sample failed: %s", exc)
            self.stopped.wait(self.interval)

    def stop(self) -> None:
        self.stopped.set()
