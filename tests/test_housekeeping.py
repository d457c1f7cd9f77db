"""Housekeeping alone (imagen.loop.housekeeping), on the in-memory connector: the pictures of deleted
series and images are removed and forgotten, a failing cleanup waits its turn, and the retries this
worker caused decide how long it idles and whether a burst worker may exit. No loop, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from imagen.loop import housekeeping
from imagen.loop.housekeeping import Housekeeping
from imagen.rendering.thumbnail import thumbnail_path
from imagen.transports.local_storage import LocalStorage
from imagen.transports.memory import memory_queue
from tests.workers import wait_until


def stored(tmp_path) -> list[str]:
    return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())


def test_the_pictures_of_deleted_images_and_their_thumbnails_are_removed_then_forgotten(tmp_path):
    queue, storage = memory_queue(), LocalStorage(tmp_path)
    for path in ("owner/series/a.png", "owner/series/b.png", "owner/solo/kept.png"):
        storage.put(path, b"\x89PNG")
        storage.put(thumbnail_path(path), b"RIFF")
    queue.connector.delete_object("local", "owner/series/a.png")
    queue.connector.delete_object("local", "owner/series/b.png")
    queue.connector.delete_object("imagen", "owner/series/a.png")  # another transport's bucket: not ours
    assert Housekeeping(queue, storage).remove_deleted_objects() == 2
    assert stored(tmp_path) == ["owner/solo/kept.png", thumbnail_path("owner/solo/kept.png")]
    assert queue.connector.deleted_objects == {}  # every row forgotten, ours and the other bucket's


def test_nothing_deleted_costs_one_call(tmp_path):
    queue = memory_queue()
    assert Housekeeping(queue, LocalStorage(tmp_path)).remove_deleted_objects() == 0
    assert queue.connector.calls == ["pending_object_deletions"]


def test_a_failing_cleanup_is_skipped_until_its_retry_time_then_tried_again(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(housekeeping, "CLEANUP_RETRY_SECONDS", 0.2)
    queue, storage = memory_queue(), LocalStorage(tmp_path)
    storage.put("owner/series/a.png", b"\x89PNG")
    queue.connector.delete_object("local", "owner/series/a.png")
    queue.connector.failing.add("forget_object_deletions")
    keeper = Housekeeping(queue, storage)
    assert keeper.remove_deleted_objects() == 1  # the picture went, but its row is still listed
    assert keeper.remove_deleted_objects() == 0  # within the retry time: not even asked
    assert queue.connector.calls.count("pending_object_deletions") == 1
    assert [r.getMessage().split(",")[0] for r in caplog.records] == ["removing deleted pictures failed"]
    queue.connector.failing.clear()
    wait_until(lambda: keeper.remove_deleted_objects() == 1, 10, what="the cleanup tried again")
    assert queue.connector.deleted_objects == {}


def test_an_idle_worker_waits_the_poll_interval_or_until_its_retry_falls_due():
    keeper = Housekeeping(memory_queue(), storage=None)
    assert keeper.next_wait(2.0) == 2.0
    keeper.retry_falls_due(datetime.now(UTC) + timedelta(seconds=60))
    assert keeper.next_wait(2.0) == 2.0  # the poll comes first
    keeper.retry_falls_due(datetime.now(UTC) + timedelta(seconds=0.5))
    assert keeper.next_wait(2.0) == 2.0  # only the latest retry is kept: an earlier one waits for the poll
    overdue = Housekeeping(memory_queue(), storage=None)
    overdue.retry_falls_due(datetime.now(UTC) - timedelta(seconds=1))
    assert overdue.next_wait(2.0) == 0.0
    soon = Housekeeping(memory_queue(), storage=None)
    soon.retry_falls_due(datetime.now(UTC) + timedelta(seconds=30))
    assert 29 < soon.next_wait(60.0) <= 30


def test_a_burst_worker_waits_for_a_retry_that_falls_due_after_the_queue_was_found_empty():
    keeper = Housekeeping(memory_queue(), storage=None)
    looked_at = datetime.now(UTC)
    assert not keeper.retry_pending(looked_at)
    keeper.retry_falls_due(looked_at - timedelta(seconds=1))  # already due when the claim found nothing
    assert not keeper.retry_pending(looked_at)
    keeper.retry_falls_due(looked_at)  # due at that very moment: the empty claim may have missed it
    assert keeper.retry_pending(looked_at)
    assert not keeper.retry_pending(looked_at + timedelta(microseconds=1))
