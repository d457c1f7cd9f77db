"""The worker through the supabase transport: PostgREST RPCs, Storage uploads, Realtime wake-ups —
against the protocol stand-ins (tests/supabase_standin), backed by the real test database."""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import pytest

from imagen.config import load_settings
from imagen.loop.housekeeping import Housekeeping
from imagen.loop.worker import Worker
from imagen.rendering.thumbnail import thumbnail_path
from imagen.transports import open_transport
from tests.workers import run_worker_burst, supabase_worker_env, wait_until
from tests.world import create_tiny_series


def supabase_settings(standin, **overrides):
    quick = {"worker_id": "supa-worker", "retry_backoff_seconds": 0.01, "realtime_watchdog_interval": 0.5}
    return load_settings(transport="supabase", supabase_url=standin.url,
                         supabase_service_role_key=standin.keys.service_role, **{**quick, **overrides})  # fmt: skip


class RunningWorker:
    """A supabase-transport worker on a thread of this process, until stopped."""

    def __init__(self, standin, renderer, poll_interval: float) -> None:
        self.queue, self.storage = open_transport(supabase_settings(standin))
        self.worker = Worker(self.queue, self.storage, renderer, poll_interval=poll_interval, heartbeat_interval=0.05)
        self.thread = threading.Thread(target=self.worker.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        wait_until(lambda: is_joined(self.queue), 10, what="realtime subscription")
        return self

    def __exit__(self, *exc):
        self.worker.stop()
        self.queue.wake()
        self.thread.join(timeout=10)
        self.queue.close()


@contextlib.contextmanager
def subscribed_queue(standin):
    """A supabase-transport queue whose Realtime channel is joined and whose wake-ups are drained."""
    queue, _ = open_transport(supabase_settings(standin))
    try:
        wait_until(lambda: is_joined(queue), 10, what="realtime subscription")
        queue.wait_for_work(0)
        yield queue
    finally:
        queue.close()


def is_joined(queue) -> bool:
    return queue.connector.is_listening()


def assert_insert_wakes(queue, conn, user) -> None:
    """A new series wakes the worker: the database's broadcast on imagen:worker arrives as an event
    (counted, so a wake-up left over from a rebuild or a join cannot pass for it), and the worker's
    wait for work returns on it."""
    queue.wait_for_work(0)  # a wake-up already pending is used up here
    before = queue.connector.wakeups.events
    create_tiny_series(conn, user, n=1)
    wait_until(lambda: queue.connector.wakeups.events > before, 10, 0.01, "the new series' wake-up")
    started = time.monotonic()
    queue.wait_for_work(30)
    assert time.monotonic() - started < 15  # woken, not timed out


def done_count(conn) -> int:
    return conn.execute("select count(*) from imagen.jobs where status = 'done'").fetchone()[0]


def test_series_of_three_end_to_end_through_supabase(conn, standin, user_a, renderer, caplog):
    caplog.set_level(logging.DEBUG)
    series = create_tiny_series(conn, user_a, n=3)
    queue, storage = open_transport(supabase_settings(standin))
    try:
        stats = Worker(queue, storage, renderer, poll_interval=0.2).run(burst=True)
    finally:
        queue.close()
    assert stats.done == 3
    images = conn.execute("select series_id::text, bucket, path from imagen.images").fetchall()
    assert {s for s, _, _ in images} == {series["id"]}
    assert {b for _, b, _ in images} == {"imagen"}
    for _, _, path in images:
        assert path.startswith(f"{user_a}/{series['id']}/")
        assert standin.stored_object("imagen", path).startswith(b"\x89PNG")
        assert standin.stored_object("imagen", thumbnail_path(path))[8:12] == b"WEBP"  # the bucket accepts it
    mimes = conn.execute("select metadata->>'mimetype', count(*) from storage.objects where bucket_id = 'imagen'"
                         " group by 1 order by 1").fetchall()  # fmt: skip
    assert mimes == [("image/png", 3), ("image/webp", 3)]
    assert conn.execute("select array_agg(distinct status) from imagen.jobs").fetchone()[0] == ["done"]
    worker_side = [r.getMessage() for r in caplog.records if not r.name.startswith("aiohttp")]  # not the stand-in's
    assert worker_side, "the worker logged nothing: the check below would be empty"
    assert not [m for m in worker_side if standin.keys.service_role in m]


def test_a_try_created_during_a_realtime_outage_is_rendered(conn, standin, user_a, renderer):
    with RunningWorker(standin, renderer, poll_interval=1.0):
        standin.realtime_outage(3)
        create_tiny_series(conn, user_a, n=1)
        wait_until(lambda: done_count(conn) == 1, 10, 0.05, "the try to be rendered by the poll timer")


def test_a_raising_callback_does_not_stop_later_wake_ups(conn, standin, user_a):
    with subscribed_queue(standin) as queue:
        real_hint = queue.connector.wakeups.hint

        def raise_once(reason):
            queue.connector.wakeups.hint = real_hint
            raise RuntimeError("a bug in a callback")

        queue.connector.wakeups.hint = raise_once
        create_tiny_series(conn, user_a, n=1)
        wait_until(lambda: queue.connector.wakeups.events == 1, 5, what="the first event")
        assert_insert_wakes(queue, conn, user_a)
        assert queue.connector.wakeups.events == 2


def test_a_dead_listen_task_is_replaced_by_the_watchdog(conn, standin, user_a):
    """What an exception escaping any callback does to the client: its listen task ends."""
    with subscribed_queue(standin) as queue:
        rebuilds = queue.connector.wakeups.rebuilds
        queue.connector.project.loop.call_soon_threadsafe(queue.connector.wakeups.client._listen_task.cancel)
        wait_until(lambda: queue.connector.wakeups.rebuilds > rebuilds and is_joined(queue), 10, 0.05, "rebuild")
        assert_insert_wakes(queue, conn, user_a)
        assert queue.connector.wakeups.events >= 1


def test_a_silent_socket_is_replaced_by_the_watchdog(conn, standin, user_a):
    with subscribed_queue(standin) as queue:
        rebuilds = queue.connector.wakeups.rebuilds
        standin.silence_realtime_sockets()
        wait_until(lambda: queue.connector.wakeups.rebuilds > rebuilds and is_joined(queue), 15, 0.05, "rebuild")
        assert_insert_wakes(queue, conn, user_a)


def test_a_dropped_socket_reconnects_and_wakes_the_worker(conn, standin, user_a):
    with subscribed_queue(standin) as queue:
        standin.drop_realtime_sockets()
        wait_until(lambda: standin.realtime_socket_count() == 1 and is_joined(queue), 15, 0.05, "reconnect")
        assert_insert_wakes(queue, conn, user_a)


@pytest.mark.parametrize("missing", ["supabase_url", "supabase_service_role_key"])
def test_supabase_transport_requires_url_and_key(standin, missing, monkeypatch):
    for var in ("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "IMAGEN_SUPABASE_URL", "IMAGEN_SUPABASE_SERVICE_ROLE_KEY"):
        monkeypatch.delenv(var, raising=False)
    settings = supabase_settings(standin).model_copy(update={missing: None})
    from imagen.config import ConfigError

    with pytest.raises(ConfigError, match="SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY"):
        open_transport(settings)


def test_imagen_worker_process_runs_on_the_supabase_transport(conn, standin, user_a, tiny_model, tmp_path):
    """`imagen worker --burst` with only SUPABASE_URL and the service-role key in its environment."""
    series = create_tiny_series(conn, user_a, n=2)
    result = run_worker_burst(supabase_worker_env(standin, tiny_model), tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "transport=supabase" in result.stderr
    assert standin.keys.service_role not in result.stdout + result.stderr
    paths = [p for (p,) in conn.execute("select path from imagen.images where series_id = %s", (series["id"],))]
    assert len(paths) == 2 and all(standin.stored_object("imagen", p) for p in paths)


@pytest.mark.parametrize("transport", ["postgres", "supabase"])
def test_a_try_cancelled_while_it_rendered_is_reported_on_both_transports(transport, request, db_url, conn, user_a):
    from imagen.console.users import as_user
    from imagen.jobs import JobCancelled, LeaseLost
    from imagen.transports import postgres_queue

    series = create_tiny_series(conn, user_a, n=1)
    if transport == "postgres":
        queue = postgres_queue(db_url, "w-cancelled")
    else:
        queue, _ = open_transport(supabase_settings(request.getfixturevalue("standin")))
    try:
        job = queue.claim()
        with as_user(conn, user_a):
            conn.execute("select imagen.cancel_series(%s)", (series["id"],))
        with pytest.raises(JobCancelled):
            queue.complete(job, "imagen", job.storage_path, 10)
        with pytest.raises(LeaseLost):  # and the try is no longer this worker's to fail
            queue.fail(job, "late")
    finally:
        queue.close()
    assert conn.execute("select status from imagen.jobs").fetchone() == ("cancelled",)


def test_deleting_a_series_removes_its_pictures_from_storage_once_on_the_supabase_transport(conn, standin, user_a):
    """forget_object_deletions(ids bigint[]) takes the ids as a JSON array, as PostgREST builds it
    with json_to_record: one cleanup removes the objects and empties objects_to_delete."""

    import httpx

    from tests.world import finish_all

    series = create_tiny_series(conn, user_a, n=2)
    images = finish_all(conn)
    queue, storage = open_transport(supabase_settings(standin))
    try:
        for image in images:
            storage.put(image["path"], b"\x89PNG a picture")
        owner = {"apikey": standin.keys.anon, "Authorization": f"Bearer {standin.keys.user(user_a)}"}
        response = httpx.delete(  # as the web app deletes a series: through PostgREST, as its owner
            f"{standin.url}/rest/v1/series",
            params={"id": f"eq.{series['id']}"},
            headers={**owner, "Content-Profile": "imagen"},
        )
        assert response.status_code == 204
        calls = []
        call = queue.connector.call
        queue.connector.call = lambda fn, params: calls.append(fn) or call(fn, params)
        assert Housekeeping(queue, storage).remove_deleted_objects() == 2
    finally:
        queue.close()
    assert calls == ["pending_object_deletions", "forget_object_deletions", "pending_object_deletions"]
    assert conn.execute("select count(*) from imagen.objects_to_delete").fetchone()[0] == 0
    assert conn.execute("select count(*) from storage.objects").fetchone()[0] == 0
    assert all(standin.stored_object("imagen", image["path"]) is None for image in images)


def test_a_wake_up_channel_that_realtime_shuts_down_is_joined_again(conn, standin, user_a):
    """Realtime closes a channel (its quota, a restart) while the socket stays up: the watchdog
    notices the closed channel and joins again; inserts wake the worker again."""
    with subscribed_queue(standin) as queue:
        rebuilds = queue.connector.wakeups.rebuilds
        standin.shut_down_realtime_channels("Too many messages per second")
        wait_until(lambda: queue.connector.wakeups.rebuilds > rebuilds and is_joined(queue), 15, 0.05, "re-join")
        assert_insert_wakes(queue, conn, user_a)


def test_the_console_s_progress_feed_joins_again_after_realtime_shuts_its_channel(conn, standin, user_a):
    import httpx

    from imagen.console.progress_feed import BroadcastFeed

    series = create_tiny_series(conn, user_a, n=1)
    feed = BroadcastFeed(standin.url, standin.keys.service_role, series["id"])
    try:
        standin.shut_down_realtime_channels("Too many messages per second")
        wait_until(lambda: feed.rejoins == 1 and f"realtime:series:{series['id']}" in standin.realtime_topics(), 10,
                   0.05, "the feed to join again")  # fmt: skip
        key = standin.keys.service_role
        message = {"topic": f"series:{series['id']}", "event": "progress", "private": True,
                   "payload": {"series_idx": 1, "step": 2, "steps": 4}}  # fmt: skip
        response = httpx.post(f"{standin.url}/realtime/v1/api/broadcast", json={"messages": [message]},
                              headers={"apikey": key, "Authorization": f"Bearer {key}"})  # fmt: skip
        assert response.status_code == 202
        assert feed.poll(5) == [{"series_idx": 1, "step": 2, "steps": 4}]
    finally:
        feed.close()


def test_a_wake_up_channel_realtime_shuts_down_is_joined_again_at_once(standin):
    """Over the project's quota Realtime closes the channel; the watchdog (every 5 s here) does not
    wait for its next round: the channel is rebuilt as soon as it says it was closed."""
    queue, _ = open_transport(supabase_settings(standin, realtime_watchdog_interval=5.0))
    try:
        wait_until(lambda: is_joined(queue), 20, what="realtime subscription")
        rebuilds = queue.connector.wakeups.rebuilds
        standin.shut_down_realtime_channels("Too many messages per second")
        wait_until(lambda: queue.connector.wakeups.rebuilds > rebuilds and is_joined(queue), 3, 0.01, "a rejoin")
    finally:
        queue.close()
