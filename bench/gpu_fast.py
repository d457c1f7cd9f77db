"""GPU run for issue 24: the speed-ups over bench/gpu_flux.py's compiled FLUX.1-schnell (0.611 s a
picture at 1024², 4 steps, bf16, on an H200; floor 0.368 s), each measured the same way, one
after the other, with a fresh model each (quantization and compilation change it in place):

1. attention backends (diffusers' `set_attention_backend`) timed eagerly, a denoising step each:
   torch's SDPA ("native"), cuDNN, FlashAttention through torch, FlashAttention-3 when its package
   (`flash_attn_interface`) is importable; the fastest one is used by the modes below;
2. modes, each: compile (warm-up) time, seconds a picture, ratio to the floor, one step, peak GPU
   memory, and the quality gate (bench/quality_gate.py: PSNR and largest pixel difference against
   the bf16 eager pictures of the same seeds) —
   eager bf16 (the reference); the whole transformer compiled (IMAGEN_COMPILE_SCOPE=model, as §4);
   regional compile (its repeated blocks, IMAGEN_COMPILE=1's default); + the VAE decoder
   compiled channels-last; + max-autotune (Inductor's
   autotuned kernels and CUDA graphs); + float8 (torchao dynamic float8, lossy, behind the gate);
3. the GPU's idle share between tries through the real worker loop, for the fastest lossless mode
   and the float8 one;
4. cold and warm start of the fastest lossless compiled mode (measured before max-autotune, whose
   autotuning may use up the budget): each a fresh process that builds the model,
   compiles and warms up (DiffusersRenderer.warm_up, as `imagen worker` does before its first
   claim) and renders one try; the warm one reuses the cold one's Inductor cache folder;
5. the memory modes (IMAGEN_MEMORY_MODE, eager: the offloading ones do not compile), each under a
   memory cap the size of the card it is meant for (torch.cuda.set_per_process_memory_fraction: an
   out-of-memory error is the verdict "does not fit"): seconds a picture, the first picture (where
   text-offload streams the text encoders), the weights resident on the card, the peak, the gate.

Prints each figure as it comes and rewrites the JSON after each (a run stopped at its time limit
keeps what it measured); `--time-budget` skips what would not fit. Without a GPU it runs the same
code on the tiny architecture on the CPU (`--smoke`: eager and regional compile only, and the
start processes without compile, so the test suite keeps it alive in about a minute; of the memory
modes, float8-storage: the CPU has no card to offload to)."""

from __future__ import annotations

import argparse
import dataclasses
import gc
import importlib.util
import json
import logging
import os
import time
from pathlib import Path
from types import MappingProxyType

import torch

from bench.common import RESULTS_DIR, parser, print_table, scratch_folder, start_child
from bench.gpu_flux import FLOOR_SECONDS, PROMPT, Results, build_full_flux, make_jobs, median, sync, worker_series
from bench.quality_gate import compare, verdict
from imagen.dev.tiny_models import build_tiny_flux
from imagen.rendering.memory import GIB, MODES
from imagen.rendering.render import FLUX_CALL_DEFAULTS, DiffusersRenderer

GOAL_LOSSLESS_S = 0.45
GOAL_FP8_S = 0.38
GOAL_IDLE_SHARE = 0.02
GATE_SEEDS = [11, 12]
# The memory cap each memory mode runs under (GiB a process may allocate): the free memory of the
# smallest card it is meant for (imagen.rendering.memory's thresholds; full, the reference, has none).
MEMORY_MODE_CAPS_GIB = {"text-offload": 30.5, "float8-storage": 30.5, "model-offload": 30.5,
                        "float8-text-offload": 21.5, "sequential-offload": 7.0}  # fmt: skip


def build(size_kind: str, device: str, dtype: torch.dtype):
    return build_full_flux(device, dtype) if size_kind == "full" else build_tiny_flux().to(device)


def free(device: str) -> None:
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def step_ms(renderer: DiffusersRenderer, size: int, steps: int, repeats: int) -> float:
    """The denoising steps alone (output_type='latent'), median over `repeats`, per step."""
    pipe, device = renderer.pipe, renderer.device
    inputs = renderer._prompt_inputs(PROMPT)
    times = []
    for i in range(repeats + 1):  # the first one warms
        sync(device)
        started = time.perf_counter()
        pipe(**inputs, width=size, height=size, num_inference_steps=steps, output_type="latent",
             generator=torch.Generator("cpu").manual_seed(i), **FLUX_CALL_DEFAULTS)  # fmt: skip
        sync(device)
        times.append(time.perf_counter() - started)
    return median(times[1:]) / steps * 1000


def attention_backends(cuda: bool) -> list[str]:
    names = ["native"]
    if cuda:
        names += ["_native_cudnn", "_native_flash", "_native_efficient"]
        if importlib.util.find_spec("flash_attn_interface") is not None:
            names.append("_flash_3")
        if importlib.util.find_spec("flash_attn") is not None:
            names.append("flash")
    return names


def child(spec: dict) -> dict:
    """One worker start in its own process: build, compile, warm up, one try."""
    started_wall = spec["spawned_at"]
    from imagen.jobs import Job  # noqa: F401  (the import cost belongs to the start)

    device, dtype = spec["device"], getattr(torch, spec["dtype"])
    out: dict = {"imported_s": time.time() - started_wall}
    pipe = build(spec["size_kind"], device, dtype)
    renderer = DiffusersRenderer(f"flux-{spec['size_kind']}-random", device=device, dtype=spec["dtype"],
                                 pipeline=pipe, compile_cache_dir=spec["cache"], **spec["options"])  # fmt: skip
    out["loaded_s"] = time.time() - started_wall
    size = spec["size"]
    out["warm_up_s"] = renderer.warm_up([(size, size)]) or 0.0
    job = make_jobs(1, size, spec["steps"])[0]
    sync(device)
    begun = time.perf_counter()
    renderer.render(job)
    sync(device)
    out["first_try_s"] = time.perf_counter() - begun
    out["first_picture_s"] = time.time() - started_wall
    from torch._dynamo.utils import counters

    out["inductor"] = {k: v for k, v in counters["inductor"].items() if "cache" in k}
    return out


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__)
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--size", choices=["full", "tiny"], help="default: full on a GPU, tiny otherwise")
    p.add_argument(
        "--time-budget", type=float, default=480.0, help="seconds; later parts that would not fit are skipped"
    )
    p.add_argument("--modes", help="comma-separated mode names to run (default: all that apply)")
    args = p.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        Path(spec["result"]).write_text(json.dumps(child(spec)))
        return
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("imagen").setLevel(logging.INFO if not args.smoke else logging.WARNING)
    cuda = torch.cuda.is_available()
    size_kind = args.size or ("full" if cuda else "tiny")
    device, dtype = ("cuda", torch.bfloat16) if cuda else ("cpu", torch.float32)
    dtype_name = str(dtype).removeprefix("torch.")
    size, steps = (1024, 4) if size_kind == "full" else (256, 4)
    pictures, tries = (2, 3) if args.smoke else (3, 4)
    out = args.out or RESULTS_DIR / f"gpu_fast{'-smoke' if args.smoke else ''}.json"
    res = Results(out, args.smoke)
    res.payload["benchmark"] = "gpu_fast"
    card = torch.cuda.get_device_name(0) if cuda else "CPU (no GPU: tiny architecture)"
    res.results.update({"card": card, "size": size_kind, "width": size, "height": size, "steps": steps,
                        "dtype": dtype_name, "floor_s": FLOOR_SECONDS, "rows": [],
                        "goals": {"lossless_s": GOAL_LOSSLESS_S, "fp8_s": GOAL_FP8_S,
                                  "idle_share": GOAL_IDLE_SHARE}})  # fmt: skip
    m = res.payload["machine"]
    print(f"card {card}; torch {m['torch']} (CUDA {m['torch_cuda']}); diffusers {m['diffusers']}; "
          f"triton {m['triton']}; torchao {_version('torchao')}", flush=True)  # fmt: skip
    cache_root = scratch_folder("gpu-fast-cache-")

    def left() -> float:
        return args.time_budget - (time.perf_counter() - res.started)

    def renderer_for(options: dict, cache: str) -> DiffusersRenderer:
        free(device)
        pipe = build(size_kind, device, dtype)
        # full unless the mode says: auto would read the card with this model already built on it
        return DiffusersRenderer(f"flux-{size_kind}-random", device=device, dtype=dtype_name, pipeline=pipe,
                                 compile_cache_dir=cache, **{"memory_mode": "full", **options})  # fmt: skip

    gate_jobs = [dataclasses.replace(job, settings=MappingProxyType({**job.settings, "seed": seed})) for job, seed in
                 zip(make_jobs(len(GATE_SEEDS), size, steps), GATE_SEEDS, strict=True)]  # fmt: skip

    # 1. the reference, then the attention backends (eager, a step each)
    reference = renderer_for({}, str(cache_root / "eager"))
    reference_pictures = [reference.render(job) for job in gate_jobs]
    backends = {}
    for name in attention_backends(cuda):
        try:
            reference.pipe.transformer.set_attention_backend(name)
            backends[name] = step_ms(reference, size, steps, 2)
        except Exception as exc:  # a backend this machine lacks
            backends[name] = f"{type(exc).__name__}: {str(exc)[:200]}"
        res.put("attention_backends", backends, f"attention {name}: {_fmt_ms(backends[name])} a step (eager)")
    timed = {k: v for k, v in backends.items() if isinstance(v, float)}
    best_attention = min(timed, key=timed.get)
    res.put("best_attention_backend", best_attention, f"fastest attention backend: {best_attention}")
    reference.pipe.transformer.set_attention_backend("native")
    del reference
    attention = {} if best_attention == "native" else {"attention_backend": best_attention}

    # 2. the modes
    modes = [
        ("eager bf16" if cuda else "eager", {}, False),
        ("compile model", {"compile": True, "compile_scope": "model"}, False),
        ("compile blocks", {"compile": True, "compile_scope": "blocks"}, False),
        ("compile blocks + VAE", {"compile": True, "compile_vae": True, "compile_scope": "blocks", **attention}, False),
        (
            "max-autotune blocks + VAE",
            {
                "compile": True,
                "compile_vae": True,
                "compile_mode": "max-autotune",
                "compile_scope": "blocks",
                **attention,
            },
            False,
        ),
        (
            "float8 + compile blocks + VAE",
            {"compile": True, "compile_vae": True, "quantize": "float8", "compile_scope": "blocks", **attention},
            True,
        ),
    ]
    # 5. the memory modes (after the starts, below)
    memory_modes = [(f"memory {name}", {"memory_mode": name}, MODES[name].float8) for name in MEMORY_MODE_CAPS_GIB]
    if not cuda:  # nothing to offload to
        memory_modes = [mode for mode in memory_modes if MODES[mode[1]["memory_mode"]].offload == "none"]
    if args.smoke:  # the harness only: compiling on the CPU costs a minute (tests/test_compile_warm_up.py compiles)
        modes = [modes[0]]
    if not cuda:  # CUDA graphs and float8 matmuls are a GPU's; float8 weights on the CPU are gated in the suite
        modes = [mode for mode in modes if "max-autotune" not in mode[0]]
        if importlib.util.find_spec("torchao") is None:
            modes = [mode for mode in modes if "float8" not in mode[0]]
    if args.modes:
        wanted = set(args.modes.split(","))
        modes = [mode for mode in modes if mode[0] in wanted or mode[0].startswith("eager")]
        memory_modes = [mode for mode in memory_modes if mode[0] in wanted]
    renderers_kept: dict[str, dict] = {}

    def run_mode(name: str, options: dict, lossy: bool) -> None:
        needs = 60 if size_kind == "full" else 5
        if left() < needs * (4 if "autotune" in name else 1):
            res.put(f"skipped_{name}", True, f"{name}: skipped (time budget)")
            return
        cap = MEMORY_MODE_CAPS_GIB.get(options.get("memory_mode")) if cuda else None
        try:
            renderer = renderer_for(options, str(cache_root / name.replace(" ", "_")))
            timing = {}
            if cuda:  # what serving holds, without the build's own peak (the model is built on the card)
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
                timing["resident_gib"] = torch.cuda.memory_allocated() / GIB
            if cap is not None:
                timing["cap_gib"] = cap
                torch.cuda.set_per_process_memory_fraction(cap * GIB / torch.cuda.get_device_properties(0).total_memory)
            warm_up = renderer.warm_up([(size, size)])
            timing["warm_up_s"] = warm_up
            jobs = make_jobs(pictures, size, steps)
            times = []
            for job in jobs:
                sync(device)
                begun = time.perf_counter()
                renderer.render(job)
                sync(device)
                times.append(time.perf_counter() - begun)
            # the first picture apart too: text-offload streams the text encoders for a new prompt
            timing.update({"times_s": times, "s_per_picture": sum(times) / len(times), "first_picture_s": times[0],
                           "later_s_per_picture": median(times[1:]) if len(times) > 1 else None})  # fmt: skip
            timing["step_ms"] = step_ms(renderer, size, steps, 2)
            gate = compare(reference_pictures, [renderer.render(job) for job in gate_jobs])
            timing["gate"] = {k: v for k, v in gate.items() if k != "per_seed"}
            timing["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
            row = res.add_row(name, timing)
            row.update({"kind": "lossy" if lossy else "lossless", "warm_up_s": warm_up,
                        "step_ms": timing["step_ms"], "psnr_db": gate["psnr_db"], "max_diff": gate["max_diff"],
                        "gate": "pass" if verdict(gate, lossy) else "FAIL",
                        "peak_gib": timing["peak_gib"], "resident_gib": timing.get("resident_gib"), "cap_gib": cap,
                        "first_picture_s": times[0]})  # fmt: skip
            res.put(
                f"mode_{name}",
                timing,
                f"{name}: {timing['s_per_picture']:.3f} s/picture "
                f"(ratio {timing['s_per_picture'] / FLOOR_SECONDS:.2f}), step {timing['step_ms']:.1f} ms, "
                f"warm-up {warm_up or 0:.1f} s, gate PSNR {gate['psnr_db']:.1f} dB "
                f"max diff {gate['max_diff']}, peak {_fmt_gib(timing['peak_gib'])}",
            )
            # 3. idle between tries through the worker loop: the compiled modes worth deploying
            if name != modes[0][0] and not name.startswith("memory") and left() > needs:
                loop = worker_series(renderer, size, steps, tries)
                row["idle_share"] = loop["idle_share_between_tries"]
                res.put(
                    f"loop_{name}", loop, f"{name}: idle between tries {loop['idle_share_between_tries'] * 100:.2f} %"
                )
            renderers_kept[name] = {"options": options, "lossy": lossy, "s": timing["s_per_picture"]}
            del renderer
        except Exception as exc:
            import traceback

            traceback.print_exc()
            res.put(f"error_{name}", f"{type(exc).__name__}: {exc}", f"{name} failed: {exc}")
        finally:
            if cap is not None:
                torch.cuda.set_per_process_memory_fraction(1.0)

    for name, options, lossy in modes:
        if "autotune" not in name:
            run_mode(name, options, lossy)

    # 4. cold and warm start of the fastest lossless compiled mode so far (not in --smoke);
    # before max-autotune, whose autotuning may take what is left of the budget
    lossless = {k: v for k, v in renderers_kept.items() if not v["lossy"] and v["options"].get("compile")}
    best = min(lossless, key=lambda k: lossless[k]["s"]) if lossless else None
    options = lossless[best]["options"] if best and not args.smoke else {}
    needs = 150 if size_kind == "full" else 30
    if left() > needs and not args.smoke:  # smoke: no child starts (seconds each; the full run times them)
        spec = {"device": device, "dtype": dtype_name, "size_kind": size_kind, "size": size, "steps": steps,
                "options": options, "cache": str(cache_root / "start")}  # fmt: skip
        starts = {}
        for kind in ("cold", "warm"):
            try:
                starts[kind] = start_child("bench.gpu_fast", spec, timeout=max(60.0, left()))
            except Exception as exc:  # keep what the rest measured
                res.put(f"error_{kind}_start", f"{type(exc).__name__}: {exc}"[-3000:], f"{kind} start failed: {exc}")
                break
            res.put("starts", {"mode": best if options else "eager", **starts},
                    f"{kind} start ({best if options else 'no compile'}): first picture after "
                    f"{starts[kind]['first_picture_s']:.1f} s (warm-up {starts[kind]['warm_up_s']:.1f} s)")  # fmt: skip
    else:
        res.put("skipped_starts", True, "cold/warm starts: skipped (time budget)")

    for name, options, lossy in memory_modes:
        run_mode(name, options, lossy)

    for name, options, lossy in modes:
        if "autotune" in name:
            run_mode(name, options, lossy)

    print_table(
        f"FLUX.1-schnell architecture ({size_kind}), {size}x{size}, {steps} steps, on {card}", res.results["rows"]
    )
    print(f"\nfloor {FLOOR_SECONDS:.3f} s/picture; goals: lossless <= {GOAL_LOSSLESS_S} s, float8 <= {GOAL_FP8_S} s, "
          f"idle <= {GOAL_IDLE_SHARE:.0%}")  # fmt: skip
    res.put("total_seconds", time.perf_counter() - res.started)
    print(f"\nresults written to {out}")


def _version(name: str) -> str | None:
    try:
        return __import__(name).__version__
    except Exception:
        return None


def _fmt_ms(value) -> str:
    return f"{value:.1f} ms" if isinstance(value, float) else str(value)


def _fmt_gib(value) -> str:
    return "n/a" if value is None else f"{value:.1f} GiB"


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
