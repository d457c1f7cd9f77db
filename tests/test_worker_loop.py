"""The worker loop's branches on the in-memory connector: no database, no torch, fast.

The connector answers as the SQL functions do, so each branch (cancelled mid-render or at
completion, a lease lost by heartbeat or at completion, shutdown, a failing render, a wake-up)
runs through the same WorkerRpcs the real transports use."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from PIL import Image

from imagen.jobs import Job, RenderAborted
from imagen.loop.worker import Worker
from imagen.rendering.thumbnail import thumbnail_path
from imagen.transports.local_storage import LocalStorage
from imagen.transports.memory import MemoryConnector, memory_queue
from imagen.transports.rpcs import WorkerRpcs
from tests.workers import wait_until
from tests.world import make_job


class StepRenderer:
    """Takes `steps` short steps; `at_step(renderer, job, step)` lets a test act mid-render through
    renderer.memory (a user, another worker) or renderer.worker (a signal)."""

    model = "step-renderer"

    def __init__(self, device: str = "cpu", at_step: Callable | None = None, fail: bool = False):
        self.device = device
        self.at_step = at_step
        self.fail = fail
        self.worker: Worker | None = None
        self.memory: MemoryConnector | None = None

    def render(self, job: Job, on_step=None) -> Image.Image:
        for step in range(1, job.steps + 1):
            time.sleep(0.005)
            if self.at_step is not None:
                self.at_step(self, job, step)
            if self.fail:
                raise RuntimeError("injected failure")
            if on_step is not None and not on_step(step):
                raise RenderAborted(job.label)
        return Image.new("RGB", (8, 8), (job.seed % 256, 0, 0))


def make_worker(jobs: list[Job], renderer: StepRenderer, tmp_path, heartbeat: float = 0.01, poll: float = 0.05,
                memory: MemoryConnector | None = None):  # fmt: skip
    queue = memory_queue(jobs, retry_backoff_seconds=0) if memory is None else WorkerRpcs(memory, "another-worker")
    worker = Worker(queue, LocalStorage(tmp_path), renderer, poll_interval=poll, heartbeat_interval=heartbeat)
    renderer.worker, renderer.memory = worker, queue.connector
    return worker, queue.connector


def stored(tmp_path) -> list:
    return sorted(p.name for p in tmp_path.rglob("*.png"))


def test_every_try_is_rendered_stored_and_completed(tmp_path):
    jobs = [make_job(seed) for seed in (1, 2, 3)]
    worker, memory = make_worker(jobs, StepRenderer(), tmp_path)
    assert worker.run(burst=True).done == 3
    assert [memory.status(j.id) for j in jobs] == ["done"] * 3
    assert stored(tmp_path) == sorted(f"{j.id}.png" for j in jobs)


def test_a_try_cancelled_mid_render_stops_at_its_next_heartbeat_and_stores_nothing(tmp_path):
    job = make_job(1, steps=200)
    worker, memory = make_worker([job], StepRenderer(at_step=lambda r, j, step: step == 2 and r.memory.cancel(j.id)),
                                 tmp_path)  # fmt: skip
    stats = worker.run(burst=True)
    assert (stats.cancelled, stats.done) == (1, 0)
    assert memory.status(job.id) == "cancelled"
    assert memory.jobs[job.id].progress < 200  # stopped early, not rendered to the end
    assert stored(tmp_path) == []


def test_a_try_cancelled_after_its_last_step_is_dropped_at_completion(tmp_path):
    job = make_job(1, steps=3)
    # The heartbeat never runs in time: only complete_job's NULL answer tells the worker.
    renderer = StepRenderer(at_step=lambda r, j, step: step == 3 and r.memory.cancel(j.id))
    worker, memory = make_worker([job], renderer, tmp_path, heartbeat=60)
    assert worker.run(burst=True).cancelled == 1
    assert memory.status(job.id) == "cancelled"
    assert stored(tmp_path) == []  # the upload made before complete_job is deleted again


def test_a_lease_lost_at_completion_leaves_the_picture_to_the_new_owner(tmp_path):
    job = make_job(1, steps=3)
    renderer = StepRenderer(at_step=lambda r, j, step: step == 3 and r.memory.take_lease(j.id))
    worker, memory = make_worker([job], renderer, tmp_path, heartbeat=60)
    stats = worker.run(burst=True)
    assert (stats.lost, stats.done) == (1, 0)
    assert memory.jobs[job.id].leased_by == "another-worker"
    # Same path for every attempt: the new owner overwrites it; deleting it would delete theirs.
    assert stored(tmp_path) == [f"{job.id}.png"]


def test_a_lease_lost_mid_render_aborts_the_render(tmp_path):
    job = make_job(1, steps=200)
    renderer = StepRenderer(at_step=lambda r, j, step: step == 2 and r.memory.take_lease(j.id))
    worker, memory = make_worker([job], renderer, tmp_path)
    assert worker.run(burst=True).lost == 1
    assert memory.jobs[job.id].progress < 200
    assert stored(tmp_path) == []


def test_shutdown_releases_the_current_try_without_spending_an_attempt(tmp_path):
    jobs = [make_job(1, steps=200, attempts=0), make_job(2, attempts=0)]
    worker, memory = make_worker(jobs, StepRenderer(at_step=lambda r, j, step: step == 2 and r.worker.stop()), tmp_path)
    stats = worker.run(burst=True)
    assert (stats.released, stats.done) == (1, 0)
    assert [(memory.status(j.id), memory.jobs[j.id].attempts) for j in jobs] == [("queued", 0), ("queued", 0)]
    assert stored(tmp_path) == []


def test_shutdown_also_gives_back_the_try_claimed_ahead(tmp_path):
    jobs = [make_job(1, steps=200, attempts=0), make_job(2, attempts=0)]

    def stop_once_the_next_is_claimed(r, j, step):
        if r.memory.status(jobs[1].id) == "running":
            r.worker.stop()

    # Off the CPU the next try is claimed while the current one renders.
    worker, memory = make_worker(jobs, StepRenderer("gpu", at_step=stop_once_the_next_is_claimed), tmp_path)
    assert worker.overlap_io
    assert worker.run(burst=True).released == 2
    assert [(memory.status(j.id), memory.jobs[j.id].attempts) for j in jobs] == [("queued", 0), ("queued", 0)]


def test_a_failing_render_is_retried_until_max_attempts_then_failed(tmp_path):
    job = make_job(1, attempts=0, max_attempts=2)
    worker, memory = make_worker([job], StepRenderer(fail=True), tmp_path)
    assert worker.run(burst=True).failed == 1
    assert memory.status(job.id) == "failed"
    assert memory.jobs[job.id].attempts == 2
    assert memory.jobs[job.id].error == "the render failed (RuntimeError)"
    assert memory.calls.count("fail_job") == 2


class FullDisk(LocalStorage):
    def put(self, path: str, data: bytes) -> None:
        raise OSError("no space left on device")


@pytest.mark.parametrize("device", ["cpu", "gpu"])  # stored inline, and on the finisher thread
def test_a_store_that_fails_fails_the_try_and_the_worker_carries_on(tmp_path, device):
    jobs = [make_job(seed, attempts=0, max_attempts=1) for seed in (1, 2)]
    queue = memory_queue(jobs, retry_backoff_seconds=0)
    worker = Worker(queue, FullDisk(tmp_path), StepRenderer(device), poll_interval=0.05, heartbeat_interval=0.01)
    assert worker.run(burst=True).failed == 2
    assert [queue.connector.status(j.id) for j in jobs] == ["failed", "failed"]


def test_a_wake_up_hint_starts_a_claim_long_before_the_poll_timer(tmp_path):
    worker, memory = make_worker([], StepRenderer(), tmp_path, poll=30)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        time.sleep(0.1)  # idle, waiting on the 30 s poll timer
        job = make_job(1)
        memory.add(job)  # as an INSERT's NOTIFY or Realtime event would
        deadline = time.monotonic() + 5
        while memory.status(job.id) != "done" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert memory.status(job.id) == "done"
    finally:
        worker.stop()
        worker.queue.wake()
        thread.join(5)
    assert not thread.is_alive()


def test_an_idle_worker_removes_the_pictures_of_deleted_images_then_forgets_them(tmp_path):
    job = make_job(1)
    worker, memory = make_worker([job], StepRenderer(), tmp_path)
    worker.run(burst=True)
    assert stored(tmp_path) == [f"{job.id}.png"]
    assert (tmp_path / thumbnail_path(job.storage_path)).is_file()
    memory.delete_object("local", job.storage_path)  # the user deleted the series
    memory.delete_object("imagen", "someone/else/on-another-transport.png")
    make_worker([], StepRenderer(), tmp_path, memory=memory)[0].run(burst=True)
    assert stored(tmp_path) == []
    assert list(tmp_path.rglob("*.webp")) == []  # the thumbnail went with its picture
    assert memory.deleted_objects == {}


def test_a_cleanup_that_keeps_failing_is_tried_and_logged_once_a_minute_not_once_a_poll(tmp_path, caplog):
    worker, memory = make_worker([], StepRenderer(), tmp_path, poll=0.01)
    memory.delete_object("local", "gone/series/job.png")
    memory.failing.add("forget_object_deletions")
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:  # many idle polls, each of which used to try (and log) again
        wait_until(lambda: memory.calls.count("claim_job") >= 20, what="20 idle polls")
    finally:
        worker.stop()
        thread.join(5)
    assert memory.calls.count("forget_object_deletions") == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "next try in 60 s" in warnings[0]


def test_a_failed_try_tells_its_owner_what_was_wrong_with_its_settings_but_not_the_raw_error(tmp_path):
    from imagen.jobs import BadSettings, user_error

    assert user_error(BadSettings("width 250 is not a positive multiple of 16")) == (
        "width 250 is not a positive multiple of 16"
    )
    assert user_error(OSError("/srv/gpu-box-7/models/flux: permission denied")) == "the render failed (OSError)"
    assert user_error(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB")) == "the render ran out of GPU memory"
