"""Shared by the benchmarks: tables, percentiles, JSON results, a null renderer, a database."""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from PIL import Image

from imagen.dev.embedded_postgres import EmbeddedPostgres

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO_ROOT = Path(__file__).resolve().parent.parent


# Every goal a benchmark checked in this process, in order: bench.all's closing table (`just bench`
# exits non-zero when one is missed at full size).
GOALS: list[dict] = []


def check_goal(benchmark: str, figure: str, value: float, goal: str, met: bool) -> bool:
    """Records one figure against its goal (goal: the target as text, e.g. "<= 5 ms"); returns met."""
    GOALS.append({"benchmark": benchmark, "figure": figure, "value": value, "goal": goal, "met": bool(met)})
    return bool(met)


def scratch_folder(prefix: str) -> Path:
    """A folder of the benchmark's own under /tmp, removed when the process exits."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--smoke", action="store_true", help="seconds-long sizes, to keep the script alive in CI")
    p.add_argument("--out", type=Path, help="JSON results file (default: bench/results/<name>.json)")
    return p


def percentile(values: list[float], q: float) -> float:
    """q in 0..100, nearest-rank on the sorted values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def summary_ms(seconds: list[float]) -> dict:
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99), "mean_ms": statistics.fmean(ms)}


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        gpu = None
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    import os

    return {"cpu": cpu, "cores": os.cpu_count(), "gpu": gpu, "python": platform.python_version(), "postgres": pg}


def write_results(name: str, args: argparse.Namespace, results: dict) -> Path:
    out = args.out or RESULTS_DIR / f"{name}{'-smoke' if args.smoke else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "date": datetime.now(UTC).isoformat(timespec="seconds"), "smoke": args.smoke,
               "machine": machine(), "results": results}  # fmt: skip
    out.write_text(json.dumps(payload, indent=2, default=str))
    print(f"\nresults written to {out}")
    return out


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    if not rows:
        return
    keys = list(rows[0])
    cells = [keys] + [[fmt(r.get(k)) for k in keys] for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(keys))]
    for n, row in enumerate(cells):
        print("  ".join(c.rjust(w) if n else c.ljust(w) for c, w in zip(row, widths, strict=True)))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if value < 100 else f"{value:.1f}"
    return "" if value is None else str(value)


class NullRenderer:
    """Renders nothing: an 8x8 picture, so the queue's own cost is what is measured."""

    model = "null"
    device = "none"  # nothing runs on the CPU: the worker overlaps I/O as it would on a GPU

    def render(self, job, on_step=None) -> Image.Image:
        if on_step is not None:
            on_step(job.steps)
        return Image.new("RGB", (8, 8), (job.seed % 256, 0, 0))


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.001):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(interval)
    raise TimeoutError("benchmark condition not met")


# One cluster of each kind for this process (bench.all runs every benchmark in one), its `postgres`
# database migrated once: a benchmark's database is a copy of it, made in a fraction of a second
# instead of an initdb and a migration each.
_CLUSTERS: dict[bool, EmbeddedPostgres] = {}


@contextlib.contextmanager
def loop_on_a_thread() -> Iterator[Callable[..., list]]:
    """An asyncio loop on a daemon thread for a benchmark's Realtime clients. Yields
    run(*coroutines, timeout=120), which runs them together there and returns their results. On the
    way out, after a failure too, the tasks left (the clients' timers) are cancelled and the loop is
    stopped and closed: an unclosed loop's self-pipe sockets would reach the garbage collector in
    whatever runs next (a test of the suite, which fails on the warning)."""
    loop = asyncio.new_event_loop()
    looping = threading.Thread(target=loop.run_forever, daemon=True)
    looping.start()

    def run(*coroutines: Coroutine, timeout: float = 120) -> list:
        async def together() -> list:
            return await asyncio.gather(*coroutines)

        return asyncio.run_coroutine_threadsafe(together(), loop).result(timeout)

    async def cancel_the_rest() -> None:
        rest = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)

    try:
        yield run
    finally:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(cancel_the_rest(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        looping.join(10)
        if not looping.is_alive():  # closing a loop that still runs would raise over the first error
            loop.close()


async def subscribe_all(channels: list, timeout: float = 20) -> list:
    """Subscribes each Realtime channel (realtime-py) and waits for every first answer; their states."""
    answered = [asyncio.get_running_loop().create_future() for _ in channels]
    for channel, future in zip(channels, answered, strict=True):
        await channel.subscribe(lambda state, _err, f=future: f.done() or f.set_result(state))
    return await asyncio.wait_for(asyncio.gather(*answered), timeout)


def migrated_cluster(durable: bool) -> EmbeddedPostgres:
    if durable not in _CLUSTERS:
        from imagen.db.migrate import migrate

        pg = EmbeddedPostgres(durable=durable).start()
        atexit.register(pg.stop)
        migrate(pg.url())
        _CLUSTERS[durable] = pg
    return _CLUSTERS[durable]


@contextlib.contextmanager
def bench_database(durable: bool = True) -> Iterator[tuple[str, uuid.UUID]]:
    """A fresh migrated database and the user the benchmark queues for: (url, user id)."""
    from imagen.console.users import ensure_user

    pg = migrated_cluster(durable)
    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg.admin_url("template1"), autocommit=True) as admin:  # not connected to the template
        admin.execute(f"create database {name} template postgres owner postgres")
    try:
        url = pg.url(name)
        with psycopg.connect(url, autocommit=True) as conn:
            user = ensure_user(conn, "bench@imagen.local")
            lift_unfinished_cap(conn, user)
        yield url, user
    finally:
        with psycopg.connect(pg.admin_url("template1"), autocommit=True) as admin:
            admin.execute("select pg_drop_replication_slot(slot_name) from pg_replication_slots"
                          " where database = %s and not active", (name,))  # fmt: skip
            admin.execute(f"drop database {name} with (force)")


CPU_READER = "bench-cpu-reader"


def database_cpu_seconds(url: str) -> float:
    """CPU seconds the database server on this machine has used so far: its postmaster and every
    backend, live or ended (an ended backend's time is in the postmaster's children's total). For a
    benchmark's own server (bench_database), read from /proc; the difference over a run is what
    the run cost the database."""
    # Read while the backend lives (its parent is the postmaster); named, so that counts of the
    # server's sessions can leave it out.
    with psycopg.connect(url, application_name=CPU_READER) as conn:
        backend = conn.execute("select pg_backend_pid()").fetchone()[0]
        postmaster = int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
    ticks = os.sysconf("SC_CLK_TCK")

    def seconds(pid: int, children: bool) -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # a backend that ended meanwhile: its time is in the postmaster's children's
            return 0.0
        used = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
        return used / ticks

    live = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
    return seconds(postmaster, True) + sum(seconds(int(pid), False) for pid in live)


def lift_unfinished_cap(conn: psycopg.Connection, user: uuid.UUID) -> None:
    """Thousands of tries for one user: their own limit, as the project owner sets one."""
    conn.execute("insert into imagen.limits (owner_id, max_unfinished_tries) values (%s, 1000000)"
                 " on conflict (owner_id) do update set max_unfinished_tries = excluded.max_unfinished_tries",
                 (user,))  # fmt: skip


def drain_postgres_queue(url: str, worker_id: str, storage: Path, renderer, overlap: bool) -> tuple:
    """A burst worker on the postgres transport until the queue is empty: (stats, wall seconds)."""
    from imagen.loop.worker import Worker
    from imagen.transports import postgres_queue
    from imagen.transports.local_storage import LocalStorage

    queue = postgres_queue(url, worker_id, lease_seconds=60)
    try:
        worker = Worker(queue, LocalStorage(storage), renderer, poll_interval=1.0, overlap_io=overlap)
        started = time.perf_counter()
        stats = worker.run(burst=True)
        return stats, time.perf_counter() - started
    finally:
        queue.close()


def start_child(module: str, spec: dict, timeout: float) -> dict:
    """`python -m <module> --child <spec>` in a fresh process (a cold start is a new process): the
    figures it writes to spec["result"]. spec gets spawned_at, the moment before the spawn."""
    import os
    import sys
    import tempfile

    with tempfile.NamedTemporaryFile("r", suffix=".json") as result:
        spec = {**spec, "spawned_at": time.time(), "result": result.name}
        proc = subprocess.run(
            [sys.executable, "-m", module, "--child", json.dumps(spec)],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "worker"), str(REPO_ROOT)])},
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"start failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
        return json.loads(Path(result.name).read_text())
