"""Stopping the worker loop in each state it can be in when SIGTERM or SIGINT lands: idle, backing
off after a failed request, between a claim and its render, mid-render, while storing.

Waits and backoffs here are set far longer than the tests may take (an hour's poll timer), so a
stop that only took effect when they ran out would hang the test: each one proves the signal
cuts the wait short, and the join's cap is only a guard. Real signals to real processes, with
SIGINT inherited ignored, are in tests/test_worker_processes.py; to a container, in
tests/test_worker_image.py."""

from __future__ import annotations

import signal
import threading
import time
from types import SimpleNamespace

import pytest

from imagen.dev.harness import HookedStorage
from imagen.jobs import Job
from imagen.loop.worker import Worker
from imagen.signals import SIGNAL_CHECK_S, Stopped, on_stop
from imagen.transports.local_storage import LocalStorage
from imagen.transports.memory import MemoryConnector
from imagen.transports.rpcs import WorkerRpcs
from tests.test_worker_loop import StepRenderer, stored
from tests.workers import serve_burst, wait_until, worker_env
from tests.world import create_tiny_series, make_job

AN_HOUR = 3600.0


def scripted(jobs: list[Job] = (), failing: set[str] = frozenset(), after=None) -> MemoryConnector:
    connector = MemoryConnector(jobs)
    connector.failing, connector.after_call = set(failing), after
    return connector


def running(worker: Worker) -> threading.Thread:
    thread = threading.Thread(target=worker.run, name="worker-under-test", daemon=True)
    thread.start()
    return thread


def stopped(worker: Worker, thread: threading.Thread) -> bool:
    worker.stop()
    return ended(thread)


def ended(thread: threading.Thread) -> bool:
    thread.join(timeout=60)
    return not thread.is_alive()


def new_worker(connector: MemoryConnector, tmp_path, renderer=None, storage=None) -> Worker:
    queue = WorkerRpcs(connector, "w1", retry_backoff_seconds=0)
    return Worker(queue, storage or LocalStorage(tmp_path), renderer or StepRenderer(), poll_interval=AN_HOUR)


def test_an_idle_worker_stops_without_waiting_for_its_poll_timer(tmp_path):
    connector = scripted()
    worker = new_worker(connector, tmp_path)
    thread = running(worker)
    wait_until(lambda: "pending_object_deletions" in connector.calls, what="the worker to go idle")
    claims = connector.calls.count("claim_job")
    assert stopped(worker, thread)
    assert connector.calls.count("claim_job") == claims  # no claim after the stop


def test_a_worker_backing_off_from_a_failing_database_stops_and_tries_no_more(tmp_path):
    connector = scripted([make_job(1)], failing={"claim_job"})
    worker = new_worker(connector, tmp_path)
    thread = running(worker)
    wait_until(lambda: connector.calls.count("claim_job") >= 6, what="claims retried with growing backoff")
    tries_before = connector.calls.count("claim_job")
    assert stopped(worker, thread)
    assert connector.calls.count("claim_job") <= tries_before + 1  # the retry in hand, at most
    assert worker.stats.done == 0


def test_a_stop_between_the_claim_and_the_render_gives_the_try_back_unrendered(tmp_path):
    job = make_job(1, attempts=0)
    worker: Worker | None = None

    def stop_after_the_claim(fn: str) -> None:  # as a signal landing as the claim commits
        if fn == "claim_job":
            worker.stop()

    connector = scripted([job], after=stop_after_the_claim)
    renderer = StepRenderer(at_step=lambda *_: (_ for _ in ()).throw(AssertionError("rendered after the stop")))
    worker = new_worker(connector, tmp_path, renderer)
    assert ended(running(worker))
    assert (worker.stats.released, worker.stats.done) == (1, 0)
    assert (connector.status(job.id), connector.jobs[job.id].attempts) == ("queued", 0)
    assert stored(tmp_path) == []


def test_a_stop_mid_render_ends_the_render_at_its_next_step_and_gives_the_try_back(tmp_path):
    job = make_job(1, steps=10_000, attempts=0)
    connector = scripted([job])
    worker = new_worker(connector, tmp_path)
    thread = running(worker)
    wait_until(lambda: connector.status(job.id) == "running", what="the render to start")
    assert stopped(worker, thread)
    assert (connector.status(job.id), connector.jobs[job.id].attempts) == ("queued", 0)
    assert stored(tmp_path) == []


def test_a_stop_while_storing_completes_the_stored_try_and_claims_no_other(tmp_path):
    jobs = [make_job(1), make_job(2)]
    worker: Worker | None = None
    storage = HookedStorage(tmp_path, on_put=lambda: worker.stop())
    connector = scripted(jobs)
    worker = new_worker(connector, tmp_path, storage=storage)
    assert ended(running(worker))
    assert [connector.status(j.id) for j in jobs] == ["done", "queued"]
    assert stored(tmp_path) == [f"{jobs[0].id}.png"]


def swallowed(stop: Stopped) -> None:
    """As C code that calls back into Python and clears the error it gets (PyObject_HasAttr does)."""


def replaced(stop: Stopped) -> None:
    """As an extension module whose import the stop cut halfway, imported again while unwinding."""
    raise ImportError("cannot load module more than once per process") from stop


@pytest.mark.parametrize("fate", [swallowed, replaced])
def test_a_stop_while_loading_the_model_ends_the_start_whatever_became_of_it(
    fate, conn, db_url, user_a, tmp_path, monkeypatch
):
    """Seen with the worker image: a SIGTERM during the model load either left the worker serving
    (its stop gone, later signals only noted) or ended it with an ImportError and exit code 1."""

    def load(settings):
        try:
            signal.raise_signal(signal.SIGTERM)  # the handler raises Stopped here, inside the load
        except Stopped as stop:
            fate(stop)
        return SimpleNamespace(device="cpu", warm_up=lambda sizes: None)

    monkeypatch.setattr("imagen.rendering.render.DiffusersRenderer.from_settings", load)
    create_tiny_series(conn, user_a, n=1)
    with pytest.raises(Stopped):
        serve_burst(worker_env(db_url, "tiny", tmp_path), monkeypatch)
    assert conn.execute("select status, attempts from imagen.jobs").fetchall() == [("queued", 0)]


def test_a_stop_signal_the_kernel_hands_another_thread_ends_the_idle_wait_within_a_slice():
    """The kernel may give a process's signal to any of its threads; Python then runs the handler
    only when the main thread next runs bytecode, which a wait on a lock never does until it ends.
    The idle wait (an hour here) is taken in slices, so the stop is handled within one."""
    queue = WorkerRpcs(MemoryConnector(), "w1")
    queue.wait_for_work(0)  # a new queue looks for work at once: that wake-up is used up here
    other = threading.Thread(target=threading.Event().wait, args=(30,), daemon=True)
    other.start()
    handled = []
    sent_at: list[float] = []

    def send() -> None:
        sent_at.append(time.monotonic())
        signal.pthread_kill(other.ident, signal.SIGTERM)

    with on_stop(lambda signum: (handled.append(signum), queue.interrupt(), queue.wake())):
        threading.Timer(0.2, send).start()
        queue.wait_for_work(AN_HOUR)
        waited = time.monotonic() - sent_at[0]
    assert handled == [signal.SIGTERM]
    # Handled within a slice or so: an hour without them. The margin is for a loaded machine.
    assert waited < 2 * SIGNAL_CHECK_S + 2
