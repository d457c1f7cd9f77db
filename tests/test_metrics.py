"""The operator's view of a worker: /metrics counts what the worker did, /healthz and /readyz say
whether it lives and may be sent work. In this process, on the test's database and the tiny model."""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from imagen.config import ConfigError, load_settings
from imagen.loop.worker import Worker
from imagen.monitoring.metrics import WorkerMetrics, imagen_version
from imagen.monitoring.status_server import StatusServer
from imagen.transports import postgres_queue
from imagen.transports.local_storage import LocalStorage
from tests.workers import wait_until
from tests.world import create_tiny_series


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except urllib.error.URLError:  # not listening (yet)
        return 0, "{}"


def samples(base: str) -> dict[tuple[str, tuple], float]:
    """Every sample of a scrape: (name, sorted labels) → value."""
    status, text = get(f"{base}/metrics")
    assert status == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(scrape: dict, name: str, **labels: str) -> float:
    return scrape.get((name, tuple(sorted(labels.items()))), 0.0)


def test_a_scrape_during_a_burst_counts_every_try_rendered(conn, user_a, renderer, tmp_path, db_url):
    n = 2
    create_tiny_series(conn, user_a, n=n, steps=1)
    metrics = WorkerMetrics(worker_id="test-worker", model=renderer.model)
    queue = postgres_queue(db_url, "test-worker", lease_seconds=30)
    queue.observer = metrics
    worker = Worker(queue, LocalStorage(tmp_path), renderer, poll_interval=0.1, heartbeat_interval=0.02,
                    observer=metrics)  # fmt: skip
    model = {"model": renderer.model}
    try:
        with StatusServer(metrics, port=0) as server:
            base = f"http://127.0.0.1:{server.port}"
            metrics.sample_queue(queue.overview())
            assert value(samples(base), "imagen_queue_runnable_tries") == n
            metrics.lifecycle("serving")
            burst = threading.Thread(target=worker.run, kwargs={"burst": True})
            burst.start()
            during = []
            while burst.is_alive():  # a scrape every 50 ms, as long as the burst lasts
                during.append(samples(base))
                burst.join(0.05)
            after = samples(base)
    finally:
        queue.close()

    done = conn.execute("select count(*) from imagen.jobs where status = 'done'").fetchone()[0]
    assert done == worker.stats.done == n
    assert value(after, "imagen_tries_started_total", **model) == n
    assert value(after, "imagen_tries_ended_total", **model, outcome="done") == n
    for outcome in ("failed", "retried", "cancelled", "released", "lost"):
        assert value(after, "imagen_tries_ended_total", **model, outcome=outcome) == 0
    assert value(after, "imagen_render_seconds_count", **model) == n
    assert value(after, "imagen_store_seconds_count", **model) == n
    assert value(after, "imagen_queue_wait_seconds_count") == n  # one wait per try claimed
    assert value(after, "imagen_claim_seconds_count") > n  # and the claims that found nothing
    assert value(after, "imagen_render_seconds_sum", **model) > 0
    assert value(after, "imagen_worker_state", imagen_worker_state="serving") == 1
    # Scrapes in the middle of the burst: counters only grow, and never past what was started.
    assert during
    for earlier, later in zip(during, [*during[1:], after], strict=True):
        for name in ("imagen_tries_started_total", "imagen_tries_ended_total"):
            labels = {**model, "outcome": "done"} if name == "imagen_tries_ended_total" else model
            assert value(earlier, name, **labels) <= value(later, name, **labels)
        assert value(earlier, "imagen_tries_ended_total", **model, outcome="done") <= value(
            earlier, "imagen_tries_started_total", **model
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def probe(base: str, path: str) -> tuple[int, str]:
    status, body = get(f"{base}{path}")
    return status, json.loads(body).get("status")


def test_readiness_is_false_while_warming_up_and_true_once_serving(
    monkeypatch, conn, user_a, tiny_model, tmp_path, db_url
):
    from imagen.rendering.render import DiffusersRenderer
    from imagen.serve import serve

    create_tiny_series(conn, user_a, n=1, steps=1)
    warm, seen_ready = threading.Event(), threading.Event()
    real_render = DiffusersRenderer.render
    monkeypatch.setattr(DiffusersRenderer, "warm_up", lambda self, sizes: warm.wait(30))
    monkeypatch.setattr(DiffusersRenderer, "render", lambda self, job, on_step=None: (
        seen_ready.wait(30), real_render(self, job, on_step))[1])  # fmt: skip
    port = free_port()
    settings = load_settings(database_url=db_url, model=tiny_model, storage_dir=tmp_path, device="cpu",
                             metrics=True, metrics_port=port, poll_interval=0.1, heartbeat_interval=0.05)  # fmt: skip
    result = {}
    worker = threading.Thread(target=lambda: result.update(stats=serve(settings, burst=True)))
    worker.start()
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: probe(base, "/readyz") == (503, "warming"), what="warming up, not ready")
        assert probe(base, "/healthz") == (200, "warming")
        warm.set()
        assert wait_until(lambda: probe(base, "/readyz") == (200, "serving"), what="ready once warm")
        assert probe(base, "/healthz") == (200, "serving")
        info = {"worker": settings.worker_id, "model": tiny_model, "device": "cpu", "compile": "off",
                "memory_mode": "full", "version": imagen_version()}  # fmt: skip
        assert value(samples(base), "imagen_worker_info", **info) == 1
    finally:
        warm.set()
        seen_ready.set()
        worker.join(60)
    assert result["stats"].done == 1


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_health_fails_once_the_loop_stops_ticking_and_readiness_once_the_queue_stops_answering():
    clock = Clock()
    metrics = WorkerMetrics(worker_id="w", model="m", stall_seconds=60, clock=clock)
    with StatusServer(metrics, port=0) as server:
        base = f"http://127.0.0.1:{server.port}"
        assert probe(base, "/healthz") == (200, "loading") and probe(base, "/readyz") == (503, "loading")
        metrics.lifecycle("serving")
        clock.now += 59
        assert probe(base, "/healthz") == (200, "serving") and probe(base, "/readyz") == (200, "serving")
        clock.now += 2
        assert probe(base, "/healthz") == (503, "the loop has not ticked for 61 s")
        metrics.tick()
        assert probe(base, "/healthz") == (200, "serving")
        metrics.unanswered("claim_job", "57P03", retrying=True)
        assert probe(base, "/readyz") == (503, "the queue does not answer")
        assert value(samples(base), "imagen_call_retries_total", call="claim_job", code="57P03") == 1
        metrics.answered()
        assert probe(base, "/readyz") == (200, "serving")
        metrics.lifecycle("stopping")
        assert probe(base, "/readyz") == (503, "stopping")
        assert get(f"{base}/nothing")[0] == 404


def test_a_port_in_use_stops_the_worker_naming_the_setting():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"IMAGEN_METRICS_PORT: cannot listen on 127.0.0.1:{port}"):
            StatusServer(WorkerMetrics(worker_id="w", model="m"), port=port)


def test_gpu_memory_is_reported_where_cuda_is_present(monkeypatch):
    """No GPU here: torch's CUDA allocator figures are stubbed; the names and labels are real."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device: 3 << 30)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device: 5 << 30)
    metrics = WorkerMetrics(worker_id="w", model="m")
    with StatusServer(metrics, port=0) as server:
        base = f"http://127.0.0.1:{server.port}"
        assert not any(name.startswith("imagen_gpu") for name, _ in samples(base))  # no device named yet
        metrics.describe(device="cuda", compile="off")
        scrape = samples(base)
    assert value(scrape, "imagen_gpu_memory_used_bytes", device="cuda") == 3 << 30
    assert value(scrape, "imagen_gpu_memory_peak_bytes", device="cuda") == 5 << 30
