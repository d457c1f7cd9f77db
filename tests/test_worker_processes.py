"""`imagen worker` as real processes: crashes, shutdown, database restarts, scale-out, bad config."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request

import psycopg
import pytest

from tests.workers import running_try, scalar, start_worker, wait_until, worker_env
from tests.world import create_tiny_series


def assert_each_job_done_once(conn, storage_dir, expected: int) -> None:
    jobs = conn.execute(
        "select j.status, count(i.id), min(i.path) from imagen.jobs j"
        " left join imagen.images i on i.job_id = j.id group by j.id, j.status"
    ).fetchall()
    assert len(jobs) == expected
    assert {(status, n) for status, n, _ in jobs} == {("done", 1)}
    files = sorted(p.relative_to(storage_dir).as_posix() for p in storage_dir.rglob("*.png"))
    assert files == sorted(path for _, _, path in jobs)


HELD_BY = "select id::text from imagen.jobs where status = 'running' and leased_by like '%%-' || %s"


def held_by(conn, pid: int) -> set[str]:
    """The tries the worker with this pid holds (its id is `{hostname}-{pid}`)."""
    return {r[0] for r in conn.execute(HELD_BY, (str(pid),))}


def test_sigkill_mid_render_loses_and_duplicates_nothing(conn, db_url, user_a, tiny_model, tmp_path):
    """Three workers are killed in the middle of a render; the tries still end up done exactly once."""
    create_tiny_series(conn, user_a, n=3, steps=25)  # a render of a second or more: the kill lands in it
    conn.execute("update imagen.jobs set max_attempts = 10")  # the same try may be killed every time
    env = worker_env(db_url, tiny_model, tmp_path / "images", lease_seconds=1)
    killed = set()
    for _ in range(3):
        proc = start_worker(env, log_path=tmp_path / "workers.log")
        try:
            # The first worker is killed while it holds a try; the next ones may die before they claim
            # one (a try the previous one left running counts), a crash at start as real as any.
            wait_until(lambda: running_try(db_url), 60, what="a try being rendered")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        killed |= held_by(conn, proc.pid)  # what it held when it died (not a try it finished just before)
    assert killed
    crashed_at = time.monotonic()
    finisher = start_worker(env, "--burst", log_path=tmp_path / "workers.log")
    assert finisher.wait(timeout=120) == 0
    recovery = time.monotonic() - crashed_at
    assert_each_job_done_once(conn, tmp_path / "images", 3)
    attempts = dict(conn.execute("select id::text, attempts from imagen.jobs").fetchall())
    for job_id in killed:
        assert attempts[job_id] >= 2, "a killed try must have been claimed again"
    print(f"recovered {len(killed)} kills in {recovery:.1f}s (lease 1s)")


# SIGTERM as a supervisor sends it, and SIGINT to a worker that inherited it ignored (started in the
# background by a script): both must stop it. (A terminal's SIGINT takes the same handler.)
STOP_SIGNALS = [(signal.SIGTERM, False), (signal.SIGINT, True)]
STOP_IDS = ["sigterm", "sigint-inherited-ignored"]


@pytest.mark.parametrize(("signum", "sigint_ignored"), STOP_SIGNALS, ids=STOP_IDS)
def test_a_stop_signal_mid_render_releases_the_try_and_exits(
    conn, db_url, user_a, tiny_model, tmp_path, signum, sigint_ignored
):
    create_tiny_series(conn, user_a, n=2, steps=50)
    proc = start_worker(worker_env(db_url, tiny_model, tmp_path), log_path=tmp_path / "worker.log",
                        sigint_ignored=sigint_ignored)  # fmt: skip
    job_id = wait_until(lambda: running_try(db_url), 60, what="a try being rendered")
    proc.send_signal(signum)
    assert proc.wait(timeout=60) == 0, (tmp_path / "worker.log").read_text()[-3000:]
    assert scalar(db_url, "select count(*) from imagen.jobs where status = 'running'") == 0
    status, attempts = conn.execute("select status, attempts from imagen.jobs where id = %s", (job_id,)).fetchone()
    assert (status, attempts) == ("queued", 0)
    assert list(tmp_path.rglob("*.png")) == []


def test_sigint_ends_an_idle_worker_that_inherited_it_ignored_without_waiting_for_its_poll_timer(
    db_url, tiny_model, tmp_path
):
    log = tmp_path / "worker.log"
    env = worker_env(db_url, tiny_model, tmp_path, poll_interval=3600)
    proc = start_worker(env, log_path=log, sigint_ignored=True)
    wait_until(lambda: "ready transport=postgres" in log.read_text(), 60, 0.05, "the worker to be ready")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]
    assert "worker stopped" in log.read_text()


def test_two_workers_share_a_queue_of_thirty(conn, db_url, user_a, tiny_model, tmp_path):
    """As operators run them (IMAGEN_METRICS, IMAGEN_LOG_FORMAT=json): their done counters add up to
    the rows, and every line either writes is a JSON object, a try's with its ids."""
    storage = tmp_path / "images"
    logs = [tmp_path / f"w{i}.log" for i in (1, 2)]
    operated = {"metrics": "true", "metrics_port": 0, "log_format": "json"}
    workers = [start_worker(worker_env(db_url, tiny_model, storage, worker_id=f"w{i}", **operated), log_path=log)
               for i, log in zip((1, 2), logs, strict=True)]  # fmt: skip
    try:
        # Both idle and listening before the work arrives, so both get some.
        wait_until(lambda: all(log.exists() and "ready transport=postgres" in log.read_text() for log in logs),
                   60, 0.1, "ready")  # fmt: skip
        ports = [int(re.search(r"probes on http://127.0.0.1:(\d+)", log.read_text()).group(1)) for log in logs]
        for _ in range(3):
            create_tiny_series(conn, user_a, n=10, steps=3)
        wait_until(
            lambda: scalar(db_url, "select count(*) from imagen.jobs where status = 'done'") == 30, 120, 0.1, "30 done"
        )
        wait_until(lambda: sum(tries_done(port) for port in ports) == 30, 30, 0.1, "the counters to reach 30")
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(timeout=30)
    assert_each_job_done_once(conn, storage, 30)
    per_worker = dict(conn.execute("select leased_by, count(*) from imagen.jobs group by leased_by").fetchall())
    assert set(per_worker) == {"w1", "w2"}, per_worker
    for worker_id, log in zip(("w1", "w2"), logs, strict=True):
        lines = [json.loads(line) for line in log.read_text().splitlines()]
        assert all(line["worker"] == worker_id for line in lines)
        done = [line for line in lines if line["event"] == "try_done"]
        assert len(done) == per_worker[worker_id] and all(line["job_id"] and line["series_id"] for line in done)


def tries_done(port: int) -> float:
    """imagen_tries_ended_total{outcome="done"} from a worker's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        families = text_string_to_metric_families(answer.read().decode())
        return sum(s.value for f in families for s in f.samples
                   if s.name == "imagen_tries_ended_total" and s.labels["outcome"] == "done")  # fmt: skip


def test_database_restart_mid_series_is_survived(conn, db_url, user_a, tiny_model, tmp_path, pg_server):
    if pg_server.restart is None:
        pytest.skip("needs a server the tests started, to restart it (TEST_DATABASE_URL points elsewhere)")
    series = create_tiny_series(conn, user_a, n=8, steps=25)  # seconds a try: the restart lands mid-series
    proc = start_worker(worker_env(db_url, tiny_model, tmp_path / "images"), "--burst", log_path=tmp_path / "w.log")
    wait_until(lambda: scalar(db_url, "select count(*) from imagen.jobs where status = 'done'") >= 1, 60, what="1 done")
    assert scalar(db_url, "select count(*) from imagen.jobs where status = 'done'") < 8, "restart must be mid-series"
    conn.close()
    pg_server.restart()
    assert proc.wait(timeout=120) == 0, (tmp_path / "w.log").read_text()[-3000:]
    with psycopg.connect(db_url, autocommit=True) as fresh:
        assert_each_job_done_once(fresh, tmp_path / "images", 8)
        assert fresh.execute("select count(*) from imagen.images where series_id = %s", (series["id"],)).fetchone()[0]
    assert "LISTEN connection lost" in (tmp_path / "w.log").read_text(), "the worker must have seen the restart"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"IMAGEN_TRANSPORT": "carrier-pigeon"}, "IMAGEN_TRANSPORT"),
        ({"IMAGEN_DATABASE_URL": "", "DATABASE_URL": ""}, "IMAGEN_DATABASE_URL"),
        ({"IMAGEN_MODEL": "/nonexistent/model"}, "IMAGEN_MODEL"),
        ({"IMAGEN_POLL_INTERVAL": "-1"}, "IMAGEN_POLL_INTERVAL"),
    ],
)
def test_bad_configuration_is_one_clear_line(db_url, tmp_path, env, expected):
    base = worker_env(db_url, "tiny", tmp_path)
    base.update(env)
    if env.get("IMAGEN_DATABASE_URL") == "":
        del base["IMAGEN_DATABASE_URL"], base["DATABASE_URL"]
    result = subprocess.run(
        [sys.executable, "-m", "imagen.cli", "worker", "--burst"], env=base, capture_output=True, text=True, timeout=60,
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("imagen:")]
    assert len(lines) == 1 and expected in lines[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr
