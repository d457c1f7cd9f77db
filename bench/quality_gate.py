"""The quality gate for speed-ups: the same seeds rendered by the reference path and by each mode,
and how far the pictures move — PSNR (dB, over 8-bit RGB) and the largest difference of one
pixel's channel, in 8-bit levels. A lossless mode (torch.compile) must stay within 1 level of the
reference; a lossy one (float8 weights, bfloat16) is reported and held to a PSNR floor. With random
weights the pictures mean nothing: the gate is numerical agreement with the reference path.

A lossy mode is never the default: IMAGEN_QUANTIZE=float8 (torchao) and IMAGEN_DTYPE are settings.
On the CPU: the tiny FLUX pipeline, reference float32 eager. bench/gpu_flux.py runs the same gate
(`gate()`) against the bf16 path on a GPU."""

from __future__ import annotations

import importlib.util
import logging
import math
import time
import uuid
from collections.abc import Callable

import numpy as np
from PIL import Image

from bench.common import parser, print_table, scratch_folder, write_results
from imagen.jobs import Job

# What each kind of mode must meet. Lossless: pictures within 1 level of the reference.
LOSSLESS_MAX_DIFF = 1
# Lossy: mean PSNR over the seeds at least this (dB). FLUX pictures in float8 on GPUs are published
# around 30-40 dB against bf16; the floor leaves room, and catches a broken path (noise: ~10 dB).
LOSSY_MIN_PSNR = 25.0
PROMPT = "a lighthouse on a cliff at dusk"


def jobs(seeds: list[int], width: int, height: int, steps: int) -> list[Job]:
    series = uuid.uuid4()
    return [Job.build(id=uuid.uuid4(), owner_id=uuid.uuid4(), series_id=series, series_idx=i + 1, prompt=PROMPT,
                model="gate", width=width, height=height, steps=steps, style=None, seed=seed, attempts=0,
                max_attempts=1) for i, seed in enumerate(seeds)]  # fmt: skip


def difference(reference: Image.Image, candidate: Image.Image) -> dict:
    """PSNR (dB; inf when identical) and the largest and mean absolute difference in 8-bit levels."""
    a = np.asarray(reference, dtype=np.int16)
    b = np.asarray(candidate, dtype=np.int16)
    diff = np.abs(a - b)
    mse = float(np.mean(diff.astype(np.float64) ** 2))
    psnr = math.inf if mse == 0 else 10 * math.log10(255**2 / mse)
    return {"psnr_db": psnr, "max_diff": int(diff.max()), "mean_diff": float(diff.mean())}


def compare(reference: list[Image.Image], candidate: list[Image.Image]) -> dict:
    """Seed by seed, then the gate's figures: the worst PSNR, the mean PSNR, the largest difference."""
    per_seed = [difference(r, c) for r, c in zip(reference, candidate, strict=True)]
    psnrs = [d["psnr_db"] for d in per_seed]
    finite = [p for p in psnrs if math.isfinite(p)]
    # the mean of the per-seed MSEs, as PSNR (inf when every picture is identical)
    mean_psnr = math.inf if not finite else -10 * math.log10(
        sum(10 ** (-p / 10) for p in finite) / len(psnrs))  # fmt: skip
    return {"per_seed": per_seed, "min_psnr_db": min(psnrs), "psnr_db": mean_psnr,
            "max_diff": max(d["max_diff"] for d in per_seed),
            "mean_diff": sum(d["mean_diff"] for d in per_seed) / len(per_seed)}  # fmt: skip


def verdict(figures: dict, lossy: bool) -> bool:
    if lossy:
        return figures["psnr_db"] >= LOSSY_MIN_PSNR
    return figures["max_diff"] <= LOSSLESS_MAX_DIFF


def gate(
    make_reference: Callable[[], object],
    modes: dict[str, tuple[Callable[[], object], bool]],
    the_jobs: list[Job],
) -> list[dict]:
    """Renders `the_jobs` with the reference renderer, then with each mode's renderer (name →
    (factory, lossy)); one row a mode: its figures and whether it passes. Renderers are made one at
    a time (a mode may change its pipeline in place: quantization, compile)."""
    reference_renderer = make_reference()
    reference = [reference_renderer.render(job) for job in the_jobs]
    del reference_renderer
    rows = []
    for name, (factory, lossy) in modes.items():
        started = time.perf_counter()
        renderer = factory()
        renderer.warm_up({(j.width, j.height) for j in the_jobs})
        pictures = [renderer.render(job) for job in the_jobs]
        figures = compare(reference, pictures)
        rows.append({"mode": name, "kind": "lossy" if lossy else "lossless", "psnr_db": figures["psnr_db"],
                     "min_psnr_db": figures["min_psnr_db"], "max_diff": figures["max_diff"],
                     "mean_diff": figures["mean_diff"], "passes": verdict(figures, lossy),
                     "threshold": f"PSNR >= {LOSSY_MIN_PSNR:g} dB" if lossy else f"max diff <= {LOSSLESS_MAX_DIFF}",
                     "seconds": time.perf_counter() - started, "per_seed": figures["per_seed"]})  # fmt: skip
        del renderer
    return rows


def cpu_modes(model: str, compile_cache: str | None) -> tuple[Callable, dict]:
    """The reference (float32 eager) and the modes the CPU can run, as renderer factories."""
    from imagen.rendering.render import DiffusersRenderer

    def make(**kwargs):
        return lambda: DiffusersRenderer(model, device="cpu", **kwargs)

    modes = {
        "torch.compile": (make(compile=True, compile_cache_dir=compile_cache), False),
        "bfloat16": (make(dtype="bfloat16"), True),
    }
    if importlib.util.find_spec("torchao") is not None:
        modes["float8 weights (torchao)"] = (make(quantize="float8"), True)
    return make(), modes


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from imagen.dev.tiny_models import tiny_path

    work = scratch_folder("quality-gate-")
    model = str(tiny_path("tiny"))
    seeds, size, steps = ([1, 2], 256, 4) if args.smoke else ([1, 2, 3, 4, 5, 6, 7, 8], 256, 4)
    reference, modes = cpu_modes(model, str(work / "compile-cache"))
    if args.smoke:  # the harness only: compiling on the CPU takes half a minute (the suite's own gate compiles)
        modes.pop("torch.compile")
    if importlib.util.find_spec("torchao") is None:
        print("torchao is not installed (pip install 'imagen[fp8]'): the float8 mode is left out")
    rows = gate(reference, modes, jobs(seeds, size, size, steps))
    print_table(
        f"Quality gate: tiny FLUX on the CPU, {len(seeds)} seeds, {size}x{size}, {steps} steps, against float32 eager",
        [{k: v for k, v in row.items() if k != "per_seed"} for row in rows],
    )
    write_results("quality_gate", args, {"reference": "float32 eager (CPU)", "seeds": seeds, "width": size,
                                         "height": size, "steps": steps, "rows": rows})  # fmt: skip


if __name__ == "__main__":
    main()
