"""What metrics cost a render: the worker's time per try with IMAGEN_METRICS on (WorkerMetrics as
its observer, the /metrics server up and scraped every 0.1 s, 150 times a usual 15 s interval)
against off (the no-op observer). Goal: no measurable difference.

Bursts of tiny FLUX tries (256 px, 4 steps) on the in-memory queue, so the database adds no noise; on and
off alternate (off, on, on, off, ...) so drift on a shared machine falls on both. Besides the
bursts, the hooks a try calls (claim, start, a tick a step, render, store, end) are timed alone:
the cost the metrics add, in microseconds, without the render's noise around it."""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

from bench.common import parser, print_table, write_results
from imagen.jobs import Job
from imagen.loop.worker import Worker
from imagen.monitoring.metrics import WorkerMetrics
from imagen.monitoring.observer import Observer
from imagen.monitoring.status_server import StatusServer
from imagen.transports.local_storage import LocalStorage
from imagen.transports.memory import memory_queue

SCRAPE_EVERY = 0.1  # 150 times as often as a usual 15 s scrape interval


def tries(n: int, steps: int, size: int) -> list[Job]:
    series = uuid.uuid4()
    owner = uuid.uuid4()
    return [Job.build(id=uuid.uuid4(), owner_id=owner, series_id=series, series_idx=i, prompt="a lighthouse at dusk",
                model="tiny", width=size, height=size, steps=steps, style=None, seed=i, attempts=0, max_attempts=3)
            for i in range(1, n + 1)]  # fmt: skip


def scrape_until(url: str, done: threading.Event) -> int:
    scrapes = 0
    while not done.wait(SCRAPE_EVERY):
        with urllib.request.urlopen(url, timeout=10) as answer:
            answer.read()
        scrapes += 1
    return scrapes


def burst_seconds_per_try(
    renderer, n: int, steps: int, size: int, metrics_on: bool, storage: Path
) -> tuple[float, int]:
    """One burst of n tries: (wall seconds per try, scrapes made during it)."""
    queue = memory_queue(tries(n, steps, size), retry_backoff_seconds=0)
    observer: Observer = Observer()
    server = None
    if metrics_on:
        observer = WorkerMetrics(worker_id="bench", model=renderer.model)
        queue.observer = observer
        observer.lifecycle("serving")
        server = StatusServer(observer, port=0).start()
    worker = Worker(queue, LocalStorage(storage), renderer, poll_interval=0.05, observer=observer)
    done, scrapes = threading.Event(), []
    scraper = None
    if server is not None:
        url = f"http://127.0.0.1:{server.port}/metrics"
        scraper = threading.Thread(target=lambda: scrapes.append(scrape_until(url, done)))
        scraper.start()
    try:
        started = time.perf_counter()
        stats = worker.run(burst=True)
        elapsed = time.perf_counter() - started
    finally:
        done.set()
        if scraper is not None:
            scraper.join()
        if server is not None:
            server.close()
        queue.close()
    assert stats.done == n, stats
    return elapsed / n, sum(scrapes)


def hooks_microseconds(observer: Observer, steps: int, repeats: int) -> float:
    """The hooks one try calls, timed alone: microseconds a try."""
    job = tries(1, steps, 64)[0]
    started = time.perf_counter()
    for _ in range(repeats):
        observer.claimed(0.002, 1.5)
        observer.answered()
        observer.started(job)
        for _ in range(steps):
            observer.tick()
            observer.progress_dropped("coalesced")
        observer.rendered(0.5)
        observer.stored(0.01)
        observer.answered()
        observer.ended("done")
        observer.progress_sent(1)
    return (time.perf_counter() - started) / repeats * 1e6


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__).parse_args(argv)
    from imagen.dev.tiny_models import tiny_path
    from imagen.rendering.render import DiffusersRenderer

    renderer = DiffusersRenderer(str(tiny_path("tiny")), device="cpu")
    # The smoke run checks the harness only: the smallest picture, no warm-up burst.
    n, rounds, steps, size, hook_repeats = (1, 1, 1, 64, 1000) if args.smoke else (30, 6, 4, 256, 100_000)
    runs: dict[bool, list[float]] = {False: [], True: []}
    scrapes = 0
    with tempfile.TemporaryDirectory() as tmp:
        if not args.smoke:
            burst_seconds_per_try(renderer, 1, steps, size, False, Path(tmp) / "warm-up")
        for r in range(rounds):
            for on in (False, True) if r % 2 == 0 else (True, False):  # off, on, on, off, off, on, ...
                seconds, scraped = burst_seconds_per_try(renderer, n, steps, size, on, Path(tmp) / f"{r}-{on}")
                runs[on].append(seconds)
                scrapes += scraped
    off, on = (statistics.median(runs[k]) for k in (False, True))
    # Each round's on and off ran back to back: their ratio sees the least drift.
    paired = sorted(b / a for a, b in zip(runs[False], runs[True], strict=True))
    # The noise: how far apart two bursts of the same kind land.
    spread = max(max(v) - min(v) for v in runs.values()) if rounds > 1 else float("nan")
    hooks_off = hooks_microseconds(Observer(), steps, hook_repeats)
    hooks_on = hooks_microseconds(WorkerMetrics(worker_id="bench", model="tiny"), steps, hook_repeats)
    rows = [
        {"metrics": "off", "bursts": len(runs[False]), "s_per_try_p50": off, "s_per_try_min": min(runs[False]),
         "s_per_try_max": max(runs[False]), "hooks_us_per_try": hooks_off},
        {"metrics": f"on, scraped every {SCRAPE_EVERY} s", "bursts": len(runs[True]), "s_per_try_p50": on,
         "s_per_try_min": min(runs[True]), "s_per_try_max": max(runs[True]), "hooks_us_per_try": hooks_on},
    ]  # fmt: skip
    print_table(f"Metrics cost: bursts of {n} tiny FLUX tries, {size} px, {steps} steps, CPU, in-memory queue", rows)
    difference = (on - off) / off
    print(f"\non / off per try: {on / off:.3f} ({difference:+.1%}); paired by round: median "
          f"{statistics.median(paired):.3f} (range {paired[0]:.3f}-{paired[-1]:.3f}); same-kind bursts differ by up to "
          f"{spread / off:.1%}; the hooks add {hooks_on - hooks_off:.1f} µs a try "
          f"({(hooks_on - hooks_off) / 1e6 / off:.4%} of a try); {scrapes} scrapes")  # fmt: skip
    write_results("metrics_cost", args, {
        "rows": rows, "on_over_off": on / off, "paired_on_over_off": paired, "same_kind_spread_fraction": spread / off,
        "hooks_added_us_per_try": hooks_on - hooks_off, "scrapes": scrapes,
        "tries_per_burst": n, "rounds": rounds, "steps": steps, "size": size,
    })  # fmt: skip


if __name__ == "__main__":
    main()
