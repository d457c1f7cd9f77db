"""Stop latency: how long a worker takes to stop after SIGTERM or SIGINT, in each state the signal
can find it in. Goal: under 1 s in every state, releasing what it holds.

In process, on the in-memory queue (what the signal handler calls, Worker.stop, to the loop's
return): idle on an hour's poll timer, backing off from a failing database, between a claim and
its render, mid-render (steps of 126 ms, a FLUX.1-schnell step on an H200), while storing.
As real `imagen worker` processes on the tiny model (the signal to the process's exit): idle and
mid-render, for SIGTERM and for SIGINT inherited ignored (as a background `cmd &` starts it).
`--smoke` runs the in-process states once each."""

from __future__ import annotations

import signal
import statistics
import threading
import time
from pathlib import Path

from PIL import Image

from bench.common import bench_database, check_goal, parser, print_table, scratch_folder, wait_for, write_results
from imagen.dev.harness import HookedStorage, postgres_worker_env, start_worker
from imagen.jobs import Job, RenderAborted
from imagen.loop.worker import Worker
from imagen.transports.local_storage import LocalStorage
from imagen.transports.memory import MemoryConnector
from imagen.transports.rpcs import WorkerRpcs

STEP_S = 0.126
AN_HOUR = 3600.0


class PacedRenderer:
    """Steps of STEP_S seconds and nothing else: the loop's reaction time is what is measured."""

    model, device = "paced", "cpu"

    def render(self, job: Job, on_step=None) -> Image.Image:
        for step in range(1, job.steps + 1):
            time.sleep(STEP_S)
            if on_step is not None and not on_step(step):
                raise RenderAborted(job.label)
        return Image.new("RGB", (8, 8))


def a_job(steps: int) -> Job:
    import uuid

    return Job.build(id=uuid.uuid4(), owner_id=uuid.uuid4(), series_id=None, series_idx=None, prompt="p", model="paced",
               width=256, height=256, steps=steps, style=None, seed=1, attempts=0, max_attempts=3)  # fmt: skip


def stop_in_state(state: str, root: Path) -> float:
    """Seconds from Worker.stop() to the loop's return, with the worker in `state`."""
    connector = MemoryConnector([a_job(steps=1000 if state == "mid-render" else 2)])
    stopped_at: list[float] = []
    worker: Worker | None = None

    def stop_now() -> None:
        stopped_at.append(time.perf_counter())
        worker.stop()

    storage = LocalStorage(root)
    if state == "backing off":
        connector.failing = {"claim_job"}
    elif state == "after the claim":
        connector.after_call = lambda fn: fn == "claim_job" and stop_now()
    elif state == "storing":
        storage = HookedStorage(root, on_put=stop_now)
    worker = Worker(WorkerRpcs(connector, "bench"), storage, PacedRenderer(), poll_interval=AN_HOUR)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    if state == "idle":
        wait_for(lambda: "pending_object_deletions" in connector.calls)
    elif state == "backing off":
        wait_for(lambda: connector.calls.count("claim_job") >= 6)
    elif state == "mid-render":
        wait_for(lambda: next(iter(connector.jobs.values())).status == "running")
        time.sleep(STEP_S * 2.5)  # well inside a step, not at its edge
    if state in ("idle", "backing off", "mid-render"):
        stop_now()
    thread.join(timeout=60)
    assert not thread.is_alive(), f"the worker did not stop when {state}"
    return time.perf_counter() - stopped_at[0]


def process_stop(url: str, model: str, root: Path, state: str, signum: int, sigint_ignored: bool) -> float:
    """Seconds from the signal to the exit of an `imagen worker` process."""
    import psycopg

    log = root / f"{state}-{signum}-{time.monotonic_ns()}.log"  # a fresh log: "ready" must be this run's
    env = postgres_worker_env(url, model, root / "images", poll_interval=AN_HOUR)
    proc = start_worker(env, log_path=log, sigint_ignored=sigint_ignored)
    wait_for(lambda: "ready transport=postgres" in log.read_text(), timeout=120, interval=0.01)
    with psycopg.connect(url, autocommit=True) as conn:
        if state == "mid-render":
            from imagen.console.series import create_series, find_user

            create_series(conn, find_user(conn, "bench@imagen.local"), "a heron", 1, model="tiny", width=256,
                          height=256, steps=50)  # fmt: skip
            running = "select count(*) from imagen.jobs where status = 'running'"
            wait_for(lambda: conn.execute(running).fetchone()[0], timeout=60, interval=0.005)
        sent = time.perf_counter()
        proc.send_signal(signum)
        proc.wait(timeout=60)
        took = time.perf_counter() - sent
        unfinished = conn.execute("select count(*) from imagen.jobs where status = 'running'").fetchone()[0]
        assert proc.returncode == 0 and unfinished == 0, log.read_text()[-2000:]
        conn.execute("delete from imagen.series")
    return took


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__).parse_args(argv)
    repeats = 1 if args.smoke else 5
    root = scratch_folder("stop-latency-")
    rows = []
    for state in ("idle", "backing off", "after the claim", "mid-render", "storing"):
        seconds = [stop_in_state(state, root / f"{state}-{i}") for i in range(repeats)]
        rows.append({"where": "in process", "state": state, "signal": "stop()", "n": repeats,
                     "median_ms": statistics.median(seconds) * 1000, "max_ms": max(seconds) * 1000})  # fmt: skip
    if not args.smoke:
        from imagen.dev.tiny_models import tiny_path

        model = str(tiny_path("tiny"))
        with bench_database(durable=False) as (url, _user):
            for state in ("idle", "mid-render"):
                for name, signum, ignored in (("SIGTERM", signal.SIGTERM, False),
                                              ("SIGINT (inherited ignored)", signal.SIGINT, True)):  # fmt: skip
                    seconds = [process_stop(url, model, root, state, signum, ignored) for _ in range(3)]
                    rows.append({"where": "imagen worker", "state": state, "signal": name, "n": len(seconds),
                                 "median_ms": statistics.median(seconds) * 1000,
                                 "max_ms": max(seconds) * 1000})  # fmt: skip
    print_table("Stop latency: stop signal → loop returned (in process) or process exited", rows)
    worst = max(row["max_ms"] for row in rows)
    print(f"\nslowest stop: {worst:.0f} ms (goal < 1000 ms in every state)")
    check_goal("stop_latency", "slowest stop ms", worst, "< 1000", worst < 1000)
    write_results("stop_latency", args, {"step_s": STEP_S, "rows": rows, "worst_ms": worst})


if __name__ == "__main__":
    main()
