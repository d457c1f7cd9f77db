"""A compiling worker's start: how long from process start to its first picture, cold (an empty
compile cache) against warm (the cache a previous start left), for regional compilation (the
transformer's repeated blocks) against the whole model, and one graph a size against one
dynamic-shape graph — with the steps' own speed beside each, so that a faster start that slows
every step would show.

Each start is a fresh process (`python -m bench.compile_start --child`), as a restarted worker is:
it loads the model from a folder, compiles (DiffusersRenderer(compile=True, ...)), warms up on
every size it serves (DiffusersRenderer.warm_up, as `imagen worker` does before its first claim),
then renders one try and times the denoising steps alone at each size. A warm start reuses the cold
start's Inductor cache folder (IMAGEN_COMPILE_CACHE_DIR). The CPU and a tiny FLUX architecture,
made deeper than the test one (4 double and 8 single blocks) so that blocks repeat as in the real
model (19 and 38): Inductor's C++ compile times are real here, the step times are not a GPU's."""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import time
import uuid
from pathlib import Path

from bench.common import parser, print_table, scratch_folder, start_child, write_results

STEPS = 4


def build_model(folder: Path, double_blocks: int, single_blocks: int) -> Path:
    """The tiny FLUX pipeline with a deeper transformer, saved as a model folder."""
    import torch
    from diffusers import FluxTransformer2DModel

    from imagen.dev.tiny_models import build_tiny_flux

    pipe = build_tiny_flux()
    torch.manual_seed(1)
    config = dict(pipe.transformer.config)
    config.update(num_layers=double_blocks, num_single_layers=single_blocks)
    pipe.transformer = FluxTransformer2DModel.from_config(config).eval()
    pipe.save_pretrained(folder)
    return folder


def child(spec: dict) -> dict:
    """One worker start (in its own process): load, compile, warm up, first try, step times."""
    started_wall = spec["spawned_at"]
    import torch
    from torch._dynamo.utils import counters

    from imagen.jobs import Job
    from imagen.rendering.render import FLUX_CALL_DEFAULTS, DiffusersRenderer

    torch.set_num_threads(spec["threads"])
    out: dict = {"imported_s": time.time() - started_wall}
    renderer = DiffusersRenderer(
        spec["model"], device="cpu", compile=spec["compile"], compile_scope=spec["scope"],
        compile_dynamic=spec["dynamic"], compile_cache_dir=spec["cache"],
    )  # fmt: skip
    out["loaded_s"] = time.time() - started_wall
    sizes = [tuple(s) for s in spec["sizes"]]
    out["warm_up_s"] = renderer.warm_up(sizes) or 0.0
    width, height = sizes[0]
    nothing = uuid.UUID(int=0)
    job = Job.build(id=nothing, owner_id=nothing, series_id=None, series_idx=None, prompt="a lighthouse at dusk",
              model="tiny", width=width, height=height, steps=STEPS, style=None, seed=1, attempts=0,
              max_attempts=1)  # fmt: skip
    begun = time.perf_counter()
    graphs_before = counters["stats"]["unique_graphs"]
    renderer.render(job)
    out["first_try_s"] = time.perf_counter() - begun
    out["first_picture_s"] = time.time() - started_wall  # process start → first picture
    out["first_try_compiled_graphs"] = counters["stats"]["unique_graphs"] - graphs_before
    # The steps alone (no VAE decode, which is not compiled), per size, after the start.
    inputs = renderer._prompt_inputs("a lighthouse at dusk")
    step_ms = {}
    for w, h in sizes:
        times = []
        for i in range(spec["repeats"]):
            t0 = time.perf_counter()
            renderer.pipe(**inputs, width=w, height=h, num_inference_steps=STEPS, output_type="latent",
                          generator=torch.Generator("cpu").manual_seed(i), **FLUX_CALL_DEFAULTS)  # fmt: skip
            times.append((time.perf_counter() - t0) / STEPS * 1000)
        step_ms[f"{w}x{h}"] = statistics.median(times)
    out["step_ms"] = step_ms
    out["graphs"] = counters["stats"]["unique_graphs"]
    out["inductor"] = {k: v for k, v in counters["inductor"].items() if "cache" in k}
    out["aot_autograd"] = {k: v for k, v in counters["aot_autograd"].items() if "cache" in k}
    return out


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        Path(spec["result"]).write_text(json.dumps(child(spec)))
        return
    logging.basicConfig(level=logging.WARNING)
    if args.smoke:  # the harness only: one size, one block of each kind, an eager start (a cold compile on the
        # CPU costs half a minute; tests/test_compile_warm_up.py compiles)
        sizes, blocks, repeats = [(256, 256)], (1, 1), 1
        modes = []
    else:
        # Three token counts (1024, 768, 1280 latent patches): the web app's presets differ so.
        sizes, blocks, repeats = [(256, 256), (256, 192), (320, 256)], (4, 8), 5
        modes = [("model", False), ("blocks", False), ("blocks", True), ("model", True)]
    threads = min(2, os.cpu_count() or 1)
    work = scratch_folder("compile-start-")
    model = str(build_model(work / "model", *blocks))
    base = {"model": model, "sizes": sizes, "repeats": repeats, "threads": threads}
    rows, starts = [], {}

    def record(label: str, scope: str, dynamic: bool, kind: str, figures: dict) -> None:
        starts[f"{label}:{kind}"] = figures
        hits = figures["inductor"].get("fxgraph_cache_hit", 0)
        misses = figures["inductor"].get("fxgraph_cache_miss", 0)
        rows.append({"compile": label, "start": kind, "first_picture_s": figures["first_picture_s"],
                     "warm_up_s": figures["warm_up_s"], "first_try_s": figures["first_try_s"],
                     "graphs": figures["graphs"], "first_try_graphs": figures["first_try_compiled_graphs"],
                     "fx_cache_hit/miss": f"{hits}/{misses}",
                     **{f"step_ms_{k}": v for k, v in figures["step_ms"].items()}})  # fmt: skip
        print(f"{label:>22} {kind:>5}: first picture {figures['first_picture_s']:.1f} s "
              f"(warm-up {figures['warm_up_s']:.1f} s), graphs {figures['graphs']}", flush=True)  # fmt: skip

    eager_spec = {**base, "compile": False, "scope": "blocks", "dynamic": False, "cache": None}
    eager = start_child("bench.compile_start", eager_spec, 1200)
    record("eager (no compile)", "blocks", False, "-", eager)
    for scope, dynamic in modes:
        label = f"{scope}, {'dynamic' if dynamic else 'per-size'}"
        cache = str(work / f"cache-{scope}-{dynamic}")
        spec = {**base, "compile": True, "scope": scope, "dynamic": dynamic, "cache": cache}
        record(label, scope, dynamic, "cold", start_child("bench.compile_start", spec, 1200))
        record(label, scope, dynamic, "warm", start_child("bench.compile_start", spec, 1200))

    print_table(
        f"Compiling worker start, tiny FLUX ({blocks[0]}+{blocks[1]} blocks) on the CPU ({threads} threads), "
        f"sizes {', '.join(f'{w}x{h}' for w, h in sizes)}, {STEPS} steps",
        rows,
    )
    summary = {}
    for scope, dynamic in modes:
        label = f"{scope}, {'dynamic' if dynamic else 'per-size'}"
        cold, warm = starts[f"{label}:cold"], starts[f"{label}:warm"]
        summary[label] = {"cold_first_picture_s": cold["first_picture_s"],
                          "warm_first_picture_s": warm["first_picture_s"],
                          "warm_over_cold": warm["first_picture_s"] / cold["first_picture_s"],
                          "cold_warm_up_s": cold["warm_up_s"], "warm_warm_up_s": warm["warm_up_s"]}  # fmt: skip
        print(f"{label}: warm start reaches its first picture in {summary[label]['warm_over_cold']:.2f} of the "
              f"cold time ({warm['first_picture_s']:.1f} s against {cold['first_picture_s']:.1f} s)")  # fmt: skip
    write_results(
        "compile_start",
        args,
        {"sizes": sizes, "steps": STEPS, "blocks": list(blocks), "threads": threads, "rows": rows,
         "starts": starts, "summary": summary},
    )  # fmt: skip


if __name__ == "__main__":
    main()
