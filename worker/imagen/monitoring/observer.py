"""What the worker tells whoever watches it: the loop, the queue and the progress publisher call
these hooks, and this class does nothing with them. imagen.monitoring.metrics counts them for Prometheus and
the health probes; the loop never learns who listens (nor imports prometheus_client).

Hooks on the render thread (tick) only store a number, so a step never waits on an observer.
"""

from __future__ import annotations

from typing import Literal

from imagen.jobs import Job

# How a try held by this worker ended: the WorkerStats fields, plus "retried" (a failed render the
# queue gives another attempt).
Outcome = Literal["done", "failed", "retried", "cancelled", "released", "lost"]
# loading the model → warming up (compiling) → serving (claiming) → stopping.
Lifecycle = Literal["loading", "warming", "serving", "stopping"]


class Observer:
    def describe(self, *, device: str, compile: str, memory_mode: str = "full") -> None:
        """The loaded renderer: its device, compile mode and memory mode (IMAGEN_MEMORY_MODE, as chosen)."""

    def lifecycle(self, state: Lifecycle) -> None:
        """The worker's phase changed."""

    def tick(self) -> None:
        """The loop is alive: an iteration, a claim, a render step."""

    def claimed(self, seconds: float, waited: float | None) -> None:
        """A claim answered after `seconds`; `waited`: how long the try it took was queued (None:
        nothing was runnable, or the queue does not say)."""

    def started(self, job: Job) -> None:
        """A render starts."""

    def rendered(self, seconds: float) -> None:
        """A render finished (not aborted, not failed)."""

    def stored(self, seconds: float) -> None:
        """A picture was encoded, stored and its try completed."""

    def ended(self, outcome: Outcome) -> None:
        """A try this worker held is settled."""

    def answered(self) -> None:
        """The queue answered a call (an error of the call's own, like a lost lease, included)."""

    def unanswered(self, call: str, code: str, retrying: bool) -> None:
        """A call failed transiently (`code`: SQLSTATE, PostgREST code, HTTP status or 'network');
        `retrying`: it is tried again."""

    def progress_sent(self, messages: int) -> None:
        """Progress messages went out."""

    def progress_dropped(self, reason: Literal["coalesced", "failed"], messages: int = 1) -> None:
        """Progress messages that never went out: replaced by a newer step before their turn, or
        lost with a failed send."""
