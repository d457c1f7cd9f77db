"""The finisher alone (imagen.loop.finisher), on the in-memory connector: a rendered picture is
encoded, stored with its thumbnail and completed; a try cancelled or lost meanwhile is settled
without a stray file; a store that fails settles the try once. No loop, no database, no torch."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from imagen.loop.finisher import Finisher
from imagen.loop.lease import Heartbeat, Lease
from imagen.loop.outcomes import IN_FLIGHT, Outcomes, WorkerStats
from imagen.monitoring.observer import Observer
from imagen.rendering.png import read_metadata
from imagen.rendering.thumbnail import thumbnail_path
from imagen.transports.local_storage import LocalStorage
from imagen.transports.memory import MemoryConnector, memory_queue
from imagen.transports.rpcs import WorkerRpcs
from tests.workers import wait_until
from tests.world import make_job

PICTURE = Image.new("RGB", (64, 64), (200, 30, 30))


@dataclass
class Parts:
    queue: WorkerRpcs
    memory: MemoryConnector
    storage: LocalStorage
    slots: threading.BoundedSemaphore
    stopping: threading.Event
    outcomes: Outcomes
    finisher: Finisher
    retries: list

    def claim(self) -> Lease:
        """A try as the loop hands it over: claimed, held by the heartbeat, holding a slot."""
        self.slots.acquire()
        lease = Lease(self.queue.claim())
        self.outcomes.heartbeat.hold(lease)
        return lease

    def free_slots(self) -> int:
        taken = 0
        while self.slots.acquire(blocking=False):
            taken += 1
        for _ in range(taken):
            self.slots.release()
        return taken

    @property
    def stats(self) -> WorkerStats:
        return self.outcomes.stats


def parts(tmp_path: Path, storage: LocalStorage | None = None, **job) -> Parts:
    queue = memory_queue([make_job(1, **job)], retry_backoff_seconds=0)
    slots, stopping, retries = threading.BoundedSemaphore(IN_FLIGHT), threading.Event(), []
    outcomes = Outcomes(queue, Heartbeat(queue, 60), slots, stopping, Observer(), on_retry=retries.append)
    storage = storage or LocalStorage(tmp_path)
    finisher = Finisher(queue, storage, outcomes, stopping, Observer(), model="test-model")
    return Parts(queue, queue.connector, storage, slots, stopping, outcomes, finisher, retries)


class FailingStorage(LocalStorage):
    """Refuses the paths that `refuse` says (a full disk, an unreachable Storage API)."""

    def __init__(self, root: Path, refuse) -> None:
        super().__init__(root)
        self.refuse = refuse

    def put(self, path: str, data: bytes) -> None:
        if self.refuse(path):
            raise OSError(f"cannot write {path}")
        super().put(path, data)


def files(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.rglob("*") if p.is_file())


def test_a_finished_try_is_stored_with_its_settings_and_thumbnail_then_completed(tmp_path):
    p = parts(tmp_path)
    lease = p.claim()
    p.finisher.finish(lease, PICTURE, started=0.0, render_seconds=0.1)
    job = lease.job
    assert p.memory.status(job.id) == "done"
    assert p.memory.jobs[job.id].image["path"] == job.storage_path
    assert files(tmp_path) == sorted([f"{job.id}.png", thumbnail_path(job.storage_path).rsplit("/", 1)[-1]])
    metadata = read_metadata((tmp_path / job.storage_path).read_bytes())
    assert (metadata["seed"], metadata["pipeline"]) == (str(job.seed), "test-model")
    assert (p.stats.done, lease.done.is_set(), p.free_slots()) == (1, True, IN_FLIGHT)
    assert p.outcomes.heartbeat.leases == {}


def test_a_try_cancelled_while_it_was_stored_leaves_no_picture(tmp_path):
    p = parts(tmp_path)
    lease = p.claim()
    p.memory.cancel(lease.job.id)  # complete_job answers NULL: the upload is deleted again
    p.finisher.finish(lease, PICTURE, started=0.0, render_seconds=0.1)
    assert p.memory.status(lease.job.id) == "cancelled"
    assert files(tmp_path) == []
    assert (p.stats.cancelled, p.stats.done, p.free_slots()) == (1, 0, IN_FLIGHT)


def test_a_cancel_heard_by_heartbeat_before_completion_also_deletes_the_picture(tmp_path):
    p = parts(tmp_path)
    lease = p.claim()
    p.memory.cancel(lease.job.id)
    lease.abort_reason = p.queue.heartbeat(lease.job, 4)  # 'cancelled': complete_job then finds no lease
    p.finisher.finish(lease, PICTURE, started=0.0, render_seconds=0.1)
    assert files(tmp_path) == []
    assert (p.stats.cancelled, p.stats.lost) == (1, 0)


def test_a_lease_lost_before_completion_leaves_the_picture_to_the_new_owner(tmp_path):
    p = parts(tmp_path)
    lease = p.claim()
    p.memory.take_lease(lease.job.id)
    p.finisher.finish(lease, PICTURE, started=0.0, render_seconds=0.1)
    # The same path for every attempt: the new owner overwrites it; deleting it would delete theirs.
    assert f"{lease.job.id}.png" in files(tmp_path)
    assert p.memory.status(lease.job.id) == "running"
    assert (p.stats.lost, p.stats.done, p.free_slots()) == (1, 0, IN_FLIGHT)


@pytest.mark.parametrize("attempts, outcome", [(1, "queued"), (3, "failed")])
def test_a_store_that_fails_fails_the_try_and_frees_its_slot_once(tmp_path, attempts, outcome):
    storage = FailingStorage(tmp_path, refuse=lambda path: path.endswith(".png"))
    p = parts(tmp_path, storage, attempts=attempts, max_attempts=3)
    lease = p.claim()
    p.finisher.finish(lease, PICTURE, started=0.0, render_seconds=0.1)  # freed twice, this raised
    assert p.memory.status(lease.job.id) == outcome
    assert p.memory.jobs[lease.job.id].error == "the render failed (OSError)"
    assert (p.stats.failed, len(p.retries)) == ((0, 1) if outcome == "queued" else (1, 0))
    assert p.free_slots() == IN_FLIGHT


def test_a_store_cut_short_by_a_stop_hands_the_try_back_without_spending_an_attempt(tmp_path):
    storage = FailingStorage(tmp_path, refuse=lambda path: True)
    p = parts(tmp_path, storage, attempts=0)
    lease = p.claim()
    p.stopping.set()
    p.finisher.finish(lease, PICTURE, started=0.0, render_seconds=0.1)
    assert (p.memory.status(lease.job.id), p.memory.jobs[lease.job.id].attempts) == ("queued", 0)
    assert (p.stats.released, p.stats.failed, p.free_slots()) == (1, 0, IN_FLIGHT)


def test_a_thumbnail_that_cannot_be_stored_never_costs_the_try(tmp_path, caplog):
    storage = FailingStorage(tmp_path, refuse=lambda path: not path.endswith(".png"))
    p = parts(tmp_path, storage)
    lease = p.claim()
    p.finisher.finish(lease, PICTURE, started=0.0, render_seconds=0.1)
    assert p.memory.status(lease.job.id) == "done"
    assert files(tmp_path) == [f"{lease.job.id}.png"]
    assert [r.getMessage().split(":")[0] for r in caplog.records if r.levelname == "WARNING"] == [
        f"no thumbnail for {lease.job.label}"
    ]


def test_finish_later_stores_on_the_finisher_thread(tmp_path):
    p = parts(tmp_path)
    lease = p.claim()
    threads = []
    put = p.storage.put
    p.storage.put = lambda path, data: threads.append(threading.current_thread().name) or put(path, data)
    p.finisher.finish_later(lease, PICTURE, started=0.0, render_seconds=0.1)
    wait_until(lease.done.is_set, 10, what="the try settled")
    p.finisher.shutdown()
    assert p.memory.status(lease.job.id) == "done"
    assert threads and all(name.startswith("imagen-finish") for name in threads)
