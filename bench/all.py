"""Every benchmark, one after another in this one process: what `just bench` runs, and what the test
suite runs at smoke size (one process imports torch and diffusers once, not once a benchmark).

    python -m bench.all [--smoke] [--out-dir DIR] [--only NAME ...]

Each benchmark prints its table and writes its JSON (to DIR/<name>.json when --out-dir is given).
A benchmark that fails is reported with its traceback and the rest still run. The run ends with
one table: every goal a benchmark checked (bench.common.check_goal), its figure and whether it was
met, and the benchmarks that check none. The exit status is 1 when a benchmark failed or, at full
size, missed a goal (smoke sizes are too small for the goals: their misses are shown, not counted);
the last lines name them."""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
import time
import traceback
from pathlib import Path

from bench.common import GOALS, fmt

# The order is the cheapest first; those that compile in this process (quality_gate, gpu_fast) last.
BENCHMARKS = [
    "queue_overhead",
    "fleet",
    "claim_cost",
    "wakeup_latency",
    "preview_cost",
    "progress_cost",
    "render_overhead",
    "metrics_cost",
    "stop_latency",
    "webhook_delivery",
    "realtime_quota",
    "realtime_recovery",
    "postgrest_limits",
    "queue_view",
    "upscale_cost",
    "gpu_flux",
    "compile_start",
    "quality_gate",
    "gpu_fast",
    "web_app",
]


def run(name: str, smoke: bool, out_dir: Path | None) -> float:
    """Runs one benchmark's main(); returns its seconds. Raises what it raised (SystemExit included)."""
    argv = (["--smoke"] if smoke else []) + (["--out", str(out_dir / f"{name}.json")] if out_dir else [])
    started = time.perf_counter()
    try:
        importlib.import_module(f"bench.{name}").main(argv)
    finally:
        gc.collect()  # a benchmark's pipelines go before the next one builds its own
        if "torch" in sys.modules and sys.modules["torch"].cuda.is_available():
            sys.modules["torch"].cuda.empty_cache()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="seconds-long sizes, to keep every benchmark alive in CI")
    p.add_argument("--out-dir", type=Path, help="write DIR/<name>.json (default: bench/results/)")
    p.add_argument("--only", nargs="+", choices=BENCHMARKS, metavar="NAME", help="these benchmarks only")
    p.add_argument("--skip", nargs="+", choices=BENCHMARKS, default=[], metavar="NAME", help="all but these")
    args = p.parse_args(argv)
    names = [n for n in (args.only or BENCHMARKS) if n not in args.skip]
    failed, seconds = [], {}
    for name in names:
        print(f"\n=== bench.{name}{' --smoke' if args.smoke else ''}", flush=True)
        try:
            seconds[name] = run(name, args.smoke, args.out_dir)
        except (Exception, SystemExit) as exc:  # argparse and a benchmark's own exits are failures here
            if isinstance(exc, SystemExit) and exc.code in (0, None):
                continue
            traceback.print_exc()
            failed.append(name)
        sys.stdout.flush()
    print("\n" + ", ".join(f"{n} {s:.1f} s" for n, s in seconds.items()))
    missed = goal_table(names, failed, args.smoke)
    if failed:
        print(f"FAILED: {' '.join(failed)}")
    if missed and not args.smoke:
        print(f"MISSED: {'; '.join(missed)}")
    return 1 if failed or (missed and not args.smoke) else 0


def goal_table(names: list[str], failed: list[str], smoke: bool) -> list[str]:
    """Prints every benchmark's goals, met or not; returns the missed ones as "benchmark: figure"."""
    rows = []
    for name in names:
        checked = [g for g in GOALS if g["benchmark"] == name]
        if name in failed:
            rows.append([name, "(failed: no figures)", "", "", "FAILED"])
        elif not checked:
            rows.append([name, "(no goal checked)", "", "", ""])
        rows += [[name, g["figure"], fmt(g["value"]), g["goal"], "met" if g["met"] else "MISSED"] for g in checked]
    cells = [["benchmark", "figure", "value", "goal", "met?"], *rows]
    widths = [max(len(row[i]) for row in cells) for i in range(5)]
    print(f"\nGoals{' (smoke sizes: a miss is shown, not counted)' if smoke else ''}")
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))
    return [f"{g['benchmark']}: {g['figure']}" for g in GOALS if g["benchmark"] in names and not g["met"]]


if __name__ == "__main__":
    sys.exit(main())
