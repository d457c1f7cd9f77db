"""Realtime messages a second that busy workers' progress costs a project, against the plans'
limits, before and after the worker's rate bound (IMAGEN_PROGRESS_RATE); and the preview frames a
viewer actually sees per try.

Realtime counts a broadcast once when it is sent and once more for each channel it is delivered
to (supabase/realtime: BatchBroadcast.send_message_and_count, MessageDispatcher), against the
project's messages-a-second quota averaged over 60 s: Free 100, Pro 500, Team 2,500. Each worker
here is the real progress publisher (imagen.transports.progress.BroadcastProgress) fed by a
render loop paced like FLUX.1-schnell at 1024² on the H200 (bench/RESULTS.md: 4 steps of 126 ms,
0.77 s a picture with the decode and the store), sending through a `send` that takes as long as
a broadcast POST (30 ms) and counts what Realtime would count for V viewers of each series.

before: every step sent as soon as the previous send is done (no bound: `rate` unlimited).
after:  the worker's default bound, DEFAULT_PROGRESS_RATE messages a second.
The steady-state rate (counted / elapsed) is what the 60-s average settles at.
"""

from __future__ import annotations

import threading
import time
import uuid

from bench.common import parser, print_table, write_results
from imagen.dev.supabase_standin.realtime_limits import PLANS
from imagen.jobs import DEFAULT_PROGRESS_RATE, Job
from imagen.transports.progress import BroadcastProgress

STEP_S, STEPS, PICTURE_S = 0.126, 4, 0.77  # FLUX.1-schnell 1024² on the H200 (RESULTS.md §4)
SEND_S = 0.03  # one POST /api/broadcast
UNBOUNDED = 1e9


class CountingRealtime:
    """The send of one worker: as slow as a POST, counting as Realtime counts for `viewers`."""

    def __init__(self, viewers: int) -> None:
        self.viewers = viewers
        self.sent = 0
        self.counted = 0
        self.per_try: dict[uuid.UUID, int] = {}
        self.lock = threading.Lock()

    def __call__(self, batch: list[dict]) -> None:
        time.sleep(SEND_S)
        with self.lock:
            self.sent += len(batch)
            self.counted += len(batch) * (1 + self.viewers)
            for message in batch:
                job_id = message["payload"]["job_id"]
                self.per_try[job_id] = self.per_try.get(job_id, 0) + 1


def render_tries(progress: BroadcastProgress, until: float) -> int:
    """Tries at the H200's pace, each step published as the worker's step callback does."""
    series_id, tries = uuid.uuid4(), 0
    while time.monotonic() < until:
        tries += 1
        job = Job.build(id=uuid.uuid4(), owner_id=uuid.uuid4(), series_id=series_id, series_idx=tries, prompt="p",
                  model="flux", width=1024, height=1024, steps=STEPS, style=None, seed=tries, attempts=1,
                  max_attempts=3)  # fmt: skip
        for step in range(1, STEPS + 1):
            time.sleep(STEP_S)
            progress.publish(job, step)
        time.sleep(PICTURE_S - STEPS * STEP_S)  # decode, encode, store, complete, claim the next
    return tries


def run(workers: int, viewers: int, rate: float, seconds: float) -> dict:
    sends = [CountingRealtime(viewers) for _ in range(workers)]
    publishers = [BroadcastProgress(send, previews=False, rate=rate) for send in sends]
    started = time.monotonic()
    tries = [0] * workers

    def worker(i: int) -> None:
        tries[i] = render_tries(publishers[i], started + seconds)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in publishers:
        p.close()
    elapsed = time.monotonic() - started
    counted = sum(s.counted for s in sends) / elapsed
    frames = [n for s in sends for n in s.per_try.values()]
    return {
        "workers": workers,
        "viewers": viewers,
        "mode": "before" if rate >= UNBOUNDED else f"after ({rate:g}/s)",
        "tries": sum(tries),
        "sent msg/s": round(sum(s.sent for s in sends) / elapsed, 1),
        "counted msg/s": round(counted, 1),
        **{f"% of {plan}": round(100 * counted / limits.max_events_per_second) for plan, limits in PLANS.items()},
        "frames/try": round(sum(frames) / len(frames), 2) if frames else 0,
    }


def per_try(args) -> dict:
    """bench.realtime_per_try: Realtime messages per finished try, one viewer, end to end."""
    from bench.common import bench_database
    from bench.progress_cost import PacedRenderer
    from bench.realtime_per_try import STEP_S, measure
    from imagen.dev.tiny_models import tiny_path
    from imagen.rendering.render import DiffusersRenderer

    tries, steps = (2, 4) if args.smoke else (10, 4)
    renderer = PacedRenderer(DiffusersRenderer(str(tiny_path("tiny")), device="cpu"), STEP_S)
    with bench_database() as (url, _user):
        row = measure(url, renderer, tries, steps)
    print_table(f"Realtime messages per finished try, one viewer ({tries} tries of {steps} steps)", [row])
    write_results("realtime_per_try", args, {"rows": [row], "steps": steps, "step_s": STEP_S})
    return {"rows": [row]}


def main(argv: list[str] | None = None) -> dict:
    cli = parser(__doc__.splitlines()[0])
    cli.add_argument("--per-try", action="store_true", help="messages per finished try, end to end")
    args = cli.parse_args(argv)
    if args.per_try:
        return per_try(args)
    sizes = [(1, 1)] if args.smoke else [(w, v) for w in (1, 10, 30) for v in (1, 3)]
    seconds = 1.2 if args.smoke else 10.0
    rows = [run(w, v, rate, seconds) for w, v in sizes for rate in (UNBOUNDED, DEFAULT_PROGRESS_RATE)]
    print_table(f"Realtime messages a second from progress ({seconds:g} s a row; Free 100, Pro 500, Team 2500)",
                rows)  # fmt: skip
    write_results("realtime_quota", args, {"rows": rows, "step_s": STEP_S, "picture_s": PICTURE_S,
                                           "send_s": SEND_S, "seconds": seconds})  # fmt: skip
    return {"rows": rows}


if __name__ == "__main__":
    main()
