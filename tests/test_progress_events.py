"""Per-step progress without row writes: the postgres transport's workers send it as NOTIFY
imagen_progress, and the terminal commands (submit --wait, status) show it from there; previews
are made off the render thread and only for the steps that are sent."""

from __future__ import annotations

import itertools
import threading
import time

from imagen.cli import main
from imagen.console.progress_feed import NotifyFeed
from imagen.loop.worker import Worker
from imagen.transports import open_progress, postgres_queue
from imagen.transports.local_storage import LocalStorage
from imagen.transports.postgres import PostgresConnector
from imagen.transports.progress import BroadcastProgress
from tests.workers import wait_until
from tests.world import claim, create_tiny_series, make_job


def test_a_postgres_transport_worker_sends_each_try_s_steps_as_notify_without_previews(
    conn, db_url, user_a, renderer, tmp_path
):
    series = create_tiny_series(conn, user_a, n=2, steps=3)
    feed = NotifyFeed(db_url, series["id"])
    queue = postgres_queue(db_url, "notify-worker", lease_seconds=30)
    progress = open_progress(queue)
    try:
        worker = Worker(queue, LocalStorage(tmp_path), renderer, poll_interval=0.1, progress=progress)
        assert worker.run(burst=True).done == 2
    finally:
        progress.close()
        queue.close()
    events = feed.poll(1.0)
    feed.close()
    assert {(e["series_idx"], e["step"]) for e in events} >= {(1, 3), (2, 3)}  # the last step of each try
    assert all(e["steps"] == 3 and "preview_jpeg" not in e for e in events)


def test_status_shows_a_running_try_s_step_from_the_events_not_the_row(conn, db_url, user_a, capsys, monkeypatch):
    monkeypatch.setenv("IMAGEN_DATABASE_URL", db_url)
    series = create_tiny_series(conn, user_a, n=1, steps=4)
    job = make_job(1, id=claim(conn)["id"], series_id=series["id"], series_idx=1, steps=4)
    connector, stop = PostgresConnector(db_url), threading.Event()
    progress = BroadcastProgress(connector.broadcast)

    def render_slowly() -> None:  # a worker at step 3, saying so every 50 ms
        while not stop.wait(0.05):
            progress.publish(job, 3)

    sender = threading.Thread(target=render_slowly)
    sender.start()
    try:
        assert main(["status", str(series["id"])]) == 0
    finally:
        stop.set()
        sender.join()
        progress.close()
        connector.close()
    assert "running 3/4" in capsys.readouterr().out
    assert conn.execute("select progress from imagen.jobs").fetchone()[0] == 0


def test_previews_are_encoded_off_the_render_thread_and_only_for_the_steps_sent():
    taken, release, sent = threading.Event(), threading.Event(), []
    encoded_on: list[tuple[int, str]] = []

    def send(batch: list[dict]) -> None:
        taken.set()
        release.wait(60)  # a slow Realtime: the render thread must not notice
        sent.extend(m["payload"]["step"] for m in batch)

    def preview(step: int):
        def jpeg() -> bytes:
            encoded_on.append((step, threading.current_thread().name))
            return b"jpeg"

        return jpeg

    progress = BroadcastProgress(send)
    job = make_job(1, series_id=make_job(2).id, series_idx=1, steps=5)
    progress.publish(job, 1, preview(1))
    assert taken.wait(60)  # the sender took step 1 and hangs in send
    for step in range(2, 6):
        progress.publish(job, step, preview(step))
    assert sent == []  # four publishes returned while the send still hangs: the render never waits
    release.set()
    progress.close()
    assert sent == [1, 5]  # steps 2-4 were replaced by 5 before they could go
    assert encoded_on == [(1, "imagen-progress"), (5, "imagen-progress")]


def test_progress_goes_out_at_most_rate_messages_a_second_and_the_last_step_always_goes():
    sent_at: list[tuple[float, int]] = []
    progress = BroadcastProgress(lambda batch: sent_at.extend((time.monotonic(), m["payload"]["step"]) for m in batch),
                                 rate=20)  # fmt: skip
    job = make_job(1, series_id=make_job(2).id, series_idx=1, steps=200)
    started = time.monotonic()
    for step in range(1, 201):  # a step every 2.5 ms: 400 steps a second
        progress.publish(job, step)
        time.sleep(0.0025)
    progress.close()
    elapsed = time.monotonic() - started
    assert sent_at[-1][1] == 200  # closing flushes the newest step
    assert len(sent_at) <= 20 * elapsed + 2  # one now, then one every 1/20 s, and the flush
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(sent_at[:-1])]  # the flush comes when it comes
    assert gaps and min(gaps) >= 1 / 20 - 0.005


def test_a_refused_send_pauses_progress_without_slowing_the_render_and_logs_once(caplog):
    from imagen.transports.rpcs import RpcError

    calls = []

    def over_quota(batch: list[dict]) -> None:
        calls.append(batch)
        raise RpcError("429", "You have exceeded your rate limit")

    # A refused send pauses them one rate period first: 10 s at this rate, longer than the steps take.
    progress = BroadcastProgress(over_quota, rate=0.1)
    job = make_job(1, series_id=make_job(2).id, series_idx=1, steps=100)
    progress.publish(job, 1)
    wait_until(lambda: calls, what="the first send")
    started = time.perf_counter()
    for step in range(2, 101):
        progress.publish(job, step)
    publishing = time.perf_counter() - started
    assert len(calls) == 1  # the 99 steps after it were not tried one by one
    assert publishing < 1.0  # the render never waited for a send (99 publishes take about a millisecond)
    progress.close()  # its flush is refused too: still one line
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "over the project's Realtime quota" in warnings[0]
