"""Every benchmark, one after another in this one process: what `just bench` runs, and what the test
suite runs at smoke size (one process imports torch and diffusers once, not once a benchmark).

    python -m bench.all [--smoke] [--out-dir DIR] [--only NAME ...]

Each benchmark prints its table and writes its JSON (to DIR/<name>.json when --out-dir is given).
A benchmark that fails is reported with its traceback and the rest still run; the exit status is
then 1 and the last line names every failure."""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
import time
import traceback
from pathlib import Path

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
    if failed:
        print(f"FAILED: {' '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
