"""Render overhead on CPU: a series of 10 on the tiny FLUX model through the worker versus bare
pipeline calls with the same seeds, and what each way of keeping the GPU busy buys:
the prompt encoded once per series, and storing/completing overlapped with the next render."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg
import torch
from PIL import Image

from bench.common import bench_database, check_goal, drain_postgres_queue, parser, print_table, write_results
from imagen.console.users import as_user
from imagen.dev.tiny_models import tiny_path
from imagen.rendering.png import read_metadata
from imagen.rendering.render import FLUX_CALL_DEFAULTS, DiffusersRenderer

PROMPT = "a lighthouse on a cliff at dusk"
SIZE = 256  # the smallest size imagen.create_series accepts


def bare_seconds(renderer: DiffusersRenderer, seeds: list[int], steps: int) -> float:
    """Plain pipeline calls, prompt given as text every time: what the worker is compared with."""
    started = time.perf_counter()
    for seed in seeds:
        renderer.pipe(prompt=PROMPT, width=SIZE, height=SIZE, num_inference_steps=steps,
                      generator=torch.Generator("cpu").manual_seed(seed), **FLUX_CALL_DEFAULTS)  # fmt: skip
    return time.perf_counter() - started


def worker_seconds(
    url: str, user, renderer: DiffusersRenderer, n: int, steps: int, overlap: bool, storage: Path
) -> tuple:
    with psycopg.connect(url, autocommit=True) as conn, as_user(conn, user):
        series = conn.execute(
            "select imagen.create_series(%s, %s, jsonb_build_object('model', 'tiny', 'width', %s::int,"
            " 'height', %s::int, 'steps', %s::int, 'seed', 1))",
            (PROMPT, n, SIZE, SIZE, steps),
        ).fetchone()[0]
    stats, elapsed = drain_postgres_queue(url, "bench-render", storage, renderer, overlap)
    assert stats.done == n, stats
    return elapsed, series


def by_seed(folder: Path) -> dict[int, np.ndarray]:
    out = {}
    for path in folder.glob("*.png"):
        data = path.read_bytes()
        out[int(read_metadata(data)["seed"])] = np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)
    return out


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__).parse_args(argv)
    n, repeats, steps = (3, 1, 2) if args.smoke else (10, 3, 4)
    model = str(tiny_path("tiny"))
    shared = DiffusersRenderer(model, device="cpu")
    unshared = DiffusersRenderer(model, device="cpu", share_prompt_embeddings=False)
    seeds = list(range(1, n + 1))
    configs = [("worker: before (prompt per try)", unshared, False),
               ("worker: prompt encoded once per series (default)", shared, False),
               ("worker: + store/complete overlapped (GPU default)", shared, True)]  # fmt: skip
    rows, pictures = [], {}
    with bench_database(durable=False) as (url, user), tempfile.TemporaryDirectory() as tmp:
        bare_seconds(shared, seeds[:1], steps)  # warm-up
        bare = statistics.median(bare_seconds(shared, seeds, steps) for _ in range(repeats)) / n
        rows.append({"path": "bare pipeline calls", "s_per_picture": bare, "ratio_to_bare": 1.0})
        for name, renderer, overlap in configs:
            runs = []
            for r in range(repeats):
                storage = Path(tmp) / f"{len(rows)}-{r}"
                elapsed, series = worker_seconds(url, user, renderer, n, steps, overlap, storage)
                runs.append(elapsed / n)
            pictures[name] = storage / str(user) / series["id"]
            per = statistics.median(runs)
            rows.append({"path": name, "s_per_picture": per, "ratio_to_bare": per / bare})
        # Same seeds, same pictures, whichever way the prompt was encoded.
        before, after = (by_seed(pictures[name]) for name in (configs[0][0], configs[1][0]))
        assert before.keys() == after.keys() == set(seeds)
        diffs = [int(np.abs(before[s] - after[s]).max()) for s in seeds]
    print_table(f"Render overhead: series of {n}, tiny FLUX, {SIZE} px, {steps} steps, CPU", rows)
    print(f"\nworker / bare per picture on CPU: {rows[2]['ratio_to_bare']:.3f} (goal <= 1.05); "
          f"shared vs per-try prompt pictures differ by at most {max(diffs)} (8-bit levels)")  # fmt: skip
    ratio = rows[2]["ratio_to_bare"]
    check_goal("render_overhead", "worker / bare s a picture (CPU)", ratio, "<= 1.05", ratio <= 1.05)
    write_results("render_overhead", args, {"rows": rows, "max_pixel_diff_shared_vs_unshared": max(diffs)})


if __name__ == "__main__":
    main()
