"""deploy/prometheus/ with Debian's real prometheus and promtool: the files are valid, each alert's unit
tests pass, and a Prometheus running the shipped scrape job against two workers' /metrics reports
what the database says."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml
from bench.common import NullRenderer

from imagen.dev.embedded_postgres import free_port
from imagen.loop.worker import Worker
from imagen.monitoring.metrics import WorkerMetrics
from imagen.monitoring.status_server import StatusServer
from imagen.signals import die_with_parent
from imagen.transports import postgres_queue
from imagen.transports.local_storage import LocalStorage
from tests.database import REPO_ROOT
from tests.workers import wait_until
from tests.world import create_series

FOLDER = REPO_ROOT / "deploy" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["promtool", *args], cwd=FOLDER, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("command", [("check", "config", "prometheus.yml"), ("check", "rules", "alerts.yml"),
                                     ("test", "rules", "alerts_test.yml")])  # fmt: skip
def test_promtool_accepts_the_files_and_every_alert_s_unit_tests_pass(command):
    result = promtool(*command)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_unit_test_that_fires_it():
    rules = yaml.safe_load((FOLDER / "alerts.yml").read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    tests = yaml.safe_load((FOLDER / "alerts_test.yml").read_text())["tests"]
    fired = {case["alertname"] for test in tests for case in test["alert_rule_test"] if case["exp_alerts"]}
    assert alerts == fired
    assert {"WorkerStalled", "QueueGrowing", "RendersFailing", "NoWorkerReady"} <= alerts


def ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/-/ready", timeout=5) as answer:
            return answer.status == 200
    except (urllib.error.URLError, ConnectionError):  # not listening yet, or 503 while it starts
        return False


def query(base: str, expr: str) -> float | None:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as answer:
        result = json.loads(answer.read())["data"]["result"]
    return float(result[0]["value"][1]) if result else None


@pytest.fixture
def prometheus(tmp_path):
    """A real Prometheus with the shipped config, its targets to be filled in: (start(targets), url)."""
    port, proc = free_port(), None

    def start(targets: list[str]) -> str:
        nonlocal proc
        config = yaml.safe_load((FOLDER / "prometheus.yml").read_text())
        config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
        (job,) = config["scrape_configs"]
        job.update(scrape_interval="1s", static_configs=[{"targets": targets}])
        shutil.copy(FOLDER / "alerts.yml", tmp_path / "alerts.yml")  # the rules load too
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
        with (tmp_path / "prometheus.log").open("wb") as log:
            proc = subprocess.Popen(
                ["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
                 f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                stdout=subprocess.DEVNULL, stderr=log, preexec_fn=die_with_parent(signal.SIGTERM),
            )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: ready(base), timeout=120, interval=0.2, what="Prometheus ready")  # 503 until then
        return base

    yield start
    if proc is not None:
        proc.terminate()
        proc.wait(timeout=30)


def test_prometheus_scraping_two_workers_agrees_with_the_database(conn, db_url, user_a, user_b, tmp_path, prometheus):
    create_series(conn, user_a, n=5)
    create_series(conn, user_b, n=4)
    servers, queues = [], []
    try:
        for i in range(2):
            metrics = WorkerMetrics(worker_id=f"prom-{i}", model=NullRenderer.model)
            queue = postgres_queue(db_url, f"prom-{i}", lease_seconds=30)
            queue.observer = metrics
            queues.append((queue, metrics))
            servers.append(StatusServer(metrics, port=0).start())
        base = prometheus([f"127.0.0.1:{s.port}" for s in servers])
        workers = [Worker(q, LocalStorage(tmp_path), NullRenderer(), poll_interval=0.1, observer=m) for q, m in queues]
        threads = [threading.Thread(target=w.run, kwargs={"burst": True}) for w in workers]
        for (_, metrics), thread in zip(queues, threads, strict=True):
            metrics.lifecycle("serving")
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        create_series(conn, user_a, n=3)  # queued after the burst: the gauges must show them
        for queue, metrics in queues:
            metrics.sample_queue(queue.overview())

        done = conn.execute("select count(*) from imagen.jobs where status = 'done'").fetchone()[0]
        queued = conn.execute("select count(*) from imagen.jobs where status = 'queued'").fetchone()[0]
        assert (done, queued) == (9, 3)
        assert sum(w.stats.done for w in workers) == done and all(w.stats.done for w in workers)
        expected = {
            'sum(imagen_tries_ended_total{job="imagen-worker",outcome="done"})': done,
            'sum(imagen_render_seconds_count{job="imagen-worker"})': done,
            'sum(imagen_queue_wait_seconds_count{job="imagen-worker"})': done,
            'max(imagen_queue_runnable_tries{job="imagen-worker"})': queued,
            'min(imagen_queue_runnable_tries{job="imagen-worker"})': queued,
            'max(imagen_queue_running_tries{job="imagen-worker"})': 0,
            'count(up{job="imagen-worker"} == 1)': 2,
            'sum(imagen_worker_state{imagen_worker_state="serving"})': 2,
        }
        for expr, value in expected.items():  # each as soon as a scrape after the burst has landed
            wait_until(lambda e=expr, v=value: query(base, e) == v, timeout=60, interval=0.5, what=expr)
        # Each worker's own count, as Prometheus keeps it per target.
        for worker, server in zip(workers, servers, strict=True):
            own = f'imagen_tries_ended_total{{instance="127.0.0.1:{server.port}",outcome="done"}}'
            assert query(base, own) == worker.stats.done
    finally:
        for server in servers:
            server.close()
        for queue, _ in queues:
            queue.close()


def test_the_docs_point_to_the_alert_files_instead_of_repeating_them():
    deploy = (REPO_ROOT / "docs" / "deploy.md").read_text()
    assert "deploy/prometheus/alerts.yml" in deploy and "deploy/prometheus/prometheus.yml" in deploy
    assert "| WorkerDown |" not in deploy  # the expressions live in one place: the rule file
    assert Path(FOLDER / "alerts_test.yml").exists()
