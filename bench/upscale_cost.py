"""What an upscale costs against what it replaces, on the tiny model and this CPU: the seconds of
an upscale (the picture enlarged twice, re-drawn tile by tile, imagen.rendering.upscale) against
one try rendered at the same area in one piece, and the peak memory of the upscale against that of
one of its tiles. The ratio is what matters: an upscale should cost the memory of one tile however
large the picture, and time in proportion to the area (its tiles overlap: about 2.25 x the area
at 2048² from 1024² tiles). GPU figures wait for a machine with one (bench/RESULTS.md).

Each case runs in a fresh process (python -m bench.upscale_cost --child). Its memory is the peak
resident set sampled while it renders, above the resident set just before: ru_maxrss is a
high-water mark that loading the model may already have passed, which once hid a case's own peak
(0 MiB above the model in a `just bench` run)."""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path

from bench.common import check_goal, parser, print_table, start_child, write_results

GOAL_MEMORY_RATIO = 1.5  # an upscale's peak above the model, at most this many times one tile's (a GPU's)
GOAL_WHOLE_MEMORY_RATIO = 1.0  # and at most one try of its area's
GOAL_TIME_RATIO = 3.0  # an upscale's seconds, at most this many times one try of its area
SAMPLE_SECONDS = 0.002  # how often the resident set is read while a case renders


def resident_mib() -> float:
    """This process's resident set now (/proc/self/statm: pages)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakResident:
    """The highest resident set seen while the block runs, read every SAMPLE_SECONDS on a thread."""

    def __enter__(self) -> PeakResident:
        self.peak = resident_mib()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._done.wait(SAMPLE_SECONDS):
            self.peak = max(self.peak, resident_mib())

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, resident_mib())


def child(spec: dict) -> dict:
    """One case in this fresh process: its seconds and its peak memory above the loaded model."""
    from PIL import Image

    from imagen.dev.tiny_models import tiny_path
    from imagen.jobs import Job
    from imagen.rendering.render import DiffusersRenderer

    tile, side = spec["tile"], spec["side"]
    renderer = DiffusersRenderer(str(tiny_path("tiny")), device="cpu", sizes=((tile, tile),))
    base = dict(id="00000000-0000-0000-0000-000000000001", owner_id="00000000-0000-0000-0000-000000000002",
                series_id=None, series_idx=None, prompt="a lighthouse in a storm", model="tiny", style=None,
                seed=3, attempts=1, max_attempts=1, steps=4)  # fmt: skip
    source = Image.new("RGB", (side // 2, side // 2), (90, 120, 160))
    cases = {
        "one tile": (Job.build(**base, kind="vary", width=tile, height=tile, strength=25), {"source": source}),
        "upscale": (Job.build(**base, kind="upscale", width=side, height=side, factor=2, refine=25),
                    {"source": source}),
        "one try of the same area": (Job.build(**base, width=side, height=side), {}),
    }  # fmt: skip
    job, inputs = cases[spec["case"]]
    # Warm, at a quarter of a tile's side so that no case's own peak is reached yet: the first
    # call's one-off allocations, and the image-to-image pipeline (from_pipe) made.
    small = max(tile // 4, renderer.size_multiple)
    renderer.render(Job.build(**base, width=small, height=small))
    renderer.render(Job.build(**base, kind="vary", width=small, height=small, strength=25), source=source)
    before = resident_mib()
    with PeakResident() as resident:
        started = time.perf_counter()
        renderer.render(job, **inputs)
        seconds = time.perf_counter() - started
    result = {"seconds": seconds, "peak_above_model_mib": resident.peak - before}
    Path(spec["result"]).write_text(json.dumps(result))
    return result


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return
    tile, side = (64, 256) if args.smoke else (256, 1024)
    rows = []
    for case in ("one tile", "upscale", "one try of the same area"):
        figures = start_child("bench.upscale_cost", {"case": case, "tile": tile, "side": side}, 1800)
        rows.append({"case": case, "size": f"{tile}²" if case == "one tile" else f"{side}²",
                     "seconds": figures["seconds"],
                     "peak_above_model_MiB": figures["peak_above_model_mib"]})  # fmt: skip
    by = {row["case"]: row for row in rows}
    time_ratio = by["upscale"]["seconds"] / by["one try of the same area"]["seconds"]
    memory_ratio = by["upscale"]["peak_above_model_MiB"] / max(by["one tile"]["peak_above_model_MiB"], 1.0)
    print_table(f"Upscale {side // 2}² → {side}² in {tile}² tiles (tiny model, CPU, 4 steps, refine 25 %)", rows)
    whole = by["upscale"]["peak_above_model_MiB"] / max(by["one try of the same area"]["peak_above_model_MiB"], 1.0)
    canvas = side * side * 16 / 2**20
    print(f"\nupscale / one try of the same area: {time_ratio:.2f}x the seconds (goal <= {GOAL_TIME_RATIO}x)")
    print(f"upscale / one try of the same area: {whole:.2f}x the peak memory (goal <= {GOAL_WHOLE_MEMORY_RATIO}x)")
    print(
        f"upscale / one tile: {memory_ratio:.2f}x the peak memory above the model (goal <= {GOAL_MEMORY_RATIO}x on a"
        f" GPU, not checked here: of the upscale's, {canvas:.0f} MiB is its canvas (16 bytes a pixel), which a real"
        f" model's tile activations dwarf and the tiny model's do not)"
    )
    check_goal("upscale_cost", "upscale / one try of its area, seconds", time_ratio, f"<= {GOAL_TIME_RATIO}x",
               time_ratio <= GOAL_TIME_RATIO)  # fmt: skip
    check_goal("upscale_cost", "upscale / one try of its area, peak memory", whole, f"<= {GOAL_WHOLE_MEMORY_RATIO}x",
               whole <= GOAL_WHOLE_MEMORY_RATIO)  # fmt: skip
    goals = {"goal_time_ratio": GOAL_TIME_RATIO, "goal_memory_ratio": GOAL_MEMORY_RATIO}
    write_results("upscale_cost", args, {"rows": rows, "time_ratio": time_ratio, "memory_ratio": memory_ratio, **goals})


if __name__ == "__main__":
    main()
