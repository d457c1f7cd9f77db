"""What the worker loop knows: a Job, the errors, and the protocols of the queue, the storage and
the renderer. The loop never learns which transport or which pipeline it has (nor imports torch)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol

from imagen.console.settings_rules import UNFINISHED_STATUSES

# Kept importable from here, where the loop's code has always found them.
from imagen.errors import BadSettings as BadSettings
from imagen.errors import JobCancelled as JobCancelled
from imagen.errors import LeaseLost as LeaseLost
from imagen.errors import RenderAborted as RenderAborted

if TYPE_CHECKING:
    from PIL import Image

HeartbeatAnswer = Literal["ok", "cancelled", "lost"]


class TryStatus(StrEnum):
    """A try's state, imagen.jobs.status. The database's check jobs_status_known and the web app's
    JobStatus list the same words (tests/test_try_status.py); which are unfinished is the
    database's rule (imagen_private.unfinished_statuses, generated into UNFINISHED_STATUSES)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def unfinished(self) -> bool:
        """Counts against its owner's cap on unfinished tries."""
        return self.value in UNFINISHED_STATUSES

    @property
    def finished(self) -> bool:
        """Nothing more happens to the try unless someone retries it."""
        return not self.unfinished


@dataclasses.dataclass(frozen=True)
class Job:
    """One try as the worker gets it: where it belongs, its kind of work and its settings whole
    (imagen.settings_rules: prompt, model, width, height, steps, style, seed and the kind's own,
    such as a variation's strength and source_path). The settings go to the renderer and into the
    PNG's metadata as they are; the properties below name the ones every kind has."""

    id: uuid.UUID
    owner_id: uuid.UUID
    series_id: uuid.UUID | None
    series_idx: int | None
    kind: str
    settings: Mapping[str, Any]
    attempts: int
    max_attempts: int

    @classmethod
    def from_row(cls, row: dict) -> Job:
        fields = {f.name: row[f.name] for f in dataclasses.fields(cls) if f.name in row}
        for key in ("id", "owner_id", "series_id"):
            if isinstance(fields[key], str):
                fields[key] = uuid.UUID(fields[key])
        fields["settings"] = MappingProxyType(dict(fields["settings"]))
        return cls(**fields)

    @classmethod
    def build(
        cls,
        *,
        id: uuid.UUID,
        owner_id: uuid.UUID,
        series_id: uuid.UUID | None = None,
        series_idx: int | None = None,
        kind: str = "generate",
        attempts: int = 0,
        max_attempts: int = 1,
        **settings: Any,
    ) -> Job:
        """A try made in code (a warm-up, a benchmark, a test): settings as keywords, None left out."""
        values = MappingProxyType({k: v for k, v in settings.items() if v is not None})
        return cls(id, owner_id, series_id, series_idx, kind, values, attempts, max_attempts)

    @property
    def prompt(self) -> str:
        return self.settings["prompt"]

    @property
    def model(self) -> str:
        return self.settings["model"]

    @property
    def width(self) -> int:
        return int(self.settings["width"])

    @property
    def height(self) -> int:
        return int(self.settings["height"])

    @property
    def steps(self) -> int:
        return int(self.settings["steps"])

    @property
    def style(self) -> str | None:
        return self.settings.get("style")

    @property
    def seed(self) -> int:
        return int(self.settings["seed"])

    @property
    def storage_path(self) -> str:
        """{owner}/{series_id or solo}/{job_id}.png — the same on every attempt, so a retry overwrites."""
        return f"{self.owner_id}/{self.series_id or 'solo'}/{self.id}.png"

    @property
    def label(self) -> str:
        where = f"series_id={self.series_id} idx={self.series_idx}" if self.series_id else "solo"
        return f"job_id={self.id} {where}"


def user_error(exc: Exception) -> str:
    """What a failed try's owner reads in jobs.error: the kind of failure, never the raw text (it
    can name hosts, paths or the pipeline's internals); the worker's log keeps the full text."""
    if isinstance(exc, BadSettings):
        return str(exc)[:300]
    if "out of memory" in str(exc).lower():
        return "the render ran out of GPU memory"
    return f"the render failed ({type(exc).__name__})"


class JobQueue(Protocol):
    """The worker RPCs: WorkerRpcs over a transport's connector (postgres, supabase, memory)."""

    def claim(self) -> Job | None: ...

    def heartbeat(self, job: Job, progress: int) -> HeartbeatAnswer: ...

    def complete(self, job: Job, bucket: str, path: str, nbytes: int) -> None:
        """Raises LeaseLost or JobCancelled."""

    def fail(self, job: Job, error: str) -> datetime | None:
        """Returns when the try runs again, or None if it is now failed for good."""

    def release(self, job: Job) -> None: ...

    def objects_to_delete(self, limit: int = 100) -> list[dict]:
        """Rows {id, bucket, path} of stored pictures whose image rows were deleted."""

    def forget_objects(self, ids: list[int]) -> None: ...

    def wait_for_work(self, timeout: float) -> None:
        """Returns on a wake-up hint or after timeout."""

    def interrupt(self) -> None:
        """The worker is stopping: end waits and retry backoffs now (safe in a signal handler)."""

    def close(self) -> None: ...


class Storage(Protocol):
    bucket: str

    def put(self, path: str, data: bytes) -> None: ...

    def get(self, path: str) -> bytes: ...

    def delete(self, path: str) -> None: ...


# Progress messages a second at most, per worker (IMAGEN_PROGRESS_RATE): 10 workers with 2
# viewers each then cost Realtime 10 x 2 x (1 + 2) = 60 messages a second, under the Free plan's 100.
DEFAULT_PROGRESS_RATE = 2.0


class ProgressPublisher(Protocol):
    """Per-step progress of a try for the people watching it (Broadcast); best effort, never blocks."""

    previews: bool  # whether its messages can carry a step's preview (else none is made)

    def publish(self, job: Job, step: int, preview: Callable[[], bytes] | None = None) -> None:
        """preview, when given, makes the step's JPEG when called: off the render thread, and only
        for the steps that are actually sent."""

    def close(self) -> None: ...


class Renderer(Protocol):
    model: str  # what the pictures' metadata records
    device: str  # "cpu" or an accelerator: the worker overlaps I/O with the render off the CPU
    kinds: frozenset[str]  # the kinds of work it renders (imagen.try_kinds): the claim hands out only those

    def render(self, job: Job, on_step: Callable[..., bool] | None = None, **inputs: Image.Image) -> Image.Image:
        """Renders `job` by its kind; on_step(step, latents=None, size=None) after each step
        returns False to abort (RenderAborted). Renderers that can pass the step's latents (for a
        preview; of a picture of size (height, width) when not the try's) do. A kind made from
        pictures is called with them by name (source=, mask=: each picture setting without its
        "_path"), fetched by imagen.transports.inputs (the loop never reads storage for it)."""
