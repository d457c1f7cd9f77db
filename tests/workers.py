"""Running workers in tests: in-process on the test's database, or as `imagen worker` subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from imagen.dev.harness import ignore_sigint as ignore_sigint
from imagen.dev.harness import postgres_worker_env
from imagen.dev.harness import start_worker as start_worker
from imagen.dev.web_stack import supabase_worker_env as worker_box_env
from imagen.loop.worker import Worker, WorkerStats
from imagen.transports import postgres_queue
from imagen.transports.local_storage import LocalStorage


def run_burst(db_url: str, renderer, storage_dir: Path, worker_id: str = "test-worker", **kw) -> WorkerStats:
    """Drains the queue in this process with the postgres transport."""
    queue = postgres_queue(db_url, worker_id, lease_seconds=kw.pop("lease_seconds", 30), retry_backoff_seconds=0.01)
    try:
        worker = Worker(queue, LocalStorage(storage_dir), renderer, poll_interval=0.1, heartbeat_interval=0.02, **kw)
        return worker.run(burst=True)
    finally:
        queue.close()


def worker_env(db_url: str, model: str, storage_dir: Path, **settings: object) -> dict:
    """A test's worker: wake-ups by NOTIFY (the poll a fallback), quick heartbeats and retries."""
    quick = {"poll_interval": 0.5, "heartbeat_interval": 0.1, "retry_backoff_seconds": 0.01}
    return postgres_worker_env(db_url, model, storage_dir, **{**quick, **settings})


def wait_until(predicate, timeout: float = 60, interval: float = 0.02, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def scalar(db_url: str, sql: str, params: tuple = ()):
    with psycopg.connect(db_url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchone()[0]


def running_try(db_url: str):
    """The id of a try a worker holds (claimed, rendering), or None. Not progress >= 1: a heartbeat
    writes progress only with a lease renewal, half a lease after the claim."""
    return scalar(db_url, "select coalesce((select id::text from imagen.jobs where status = 'running' limit 1), '')")


def supabase_worker_env(standin, model: str, **settings: object) -> dict:
    """`imagen worker` on the supabase transport: SUPABASE_URL and the service-role key only."""
    return worker_box_env(standin.url, standin.keys.service_role, model, **{"poll_interval": 0.5, **settings})


def serve_burst(env: dict, monkeypatch) -> WorkerStats:
    """`imagen worker --burst` in this process (serve(), as the command runs it), with the settings
    `env` gives and nothing else from this process's environment."""
    from imagen.config import load_settings
    from imagen.serve import serve

    for name in list(os.environ):
        if name.startswith(("IMAGEN_", "SUPABASE_", "DATABASE_URL")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith(("IMAGEN_", "SUPABASE_")):
            monkeypatch.setenv(name, value)
    return serve(load_settings(), burst=True)


def run_worker_burst(env: dict, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "imagen.cli", "worker", "--burst"], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def process_tree(pid: int) -> set[int]:
    """The live descendants of pid (from /proc; zombies count as gone)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := read_stat(int(entry.name))) is not None and stat[0] != "Z":
            children.setdefault(stat[1], []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if (stat := read_stat(pid)) is not None and stat[0] != "Z"}


def read_stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, or None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, ppid = stat.rsplit(")", 1)[1].split()[:2]
    return state, int(ppid)
