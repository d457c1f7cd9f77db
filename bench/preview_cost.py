"""Cost of one step preview on the CPU: a 1024x1024 FLUX step's packed latents (1, 4096, 64) →
the 128 px JPEG of imagen.rendering.preview, split into its stages, set against the budget of 2 % of a
FLUX.1-schnell step on an H100 (0.368 s per 4-step picture floor → ~92 ms a step → ~1.84 ms).

The latents are random (the worst case for JPEG: noise compresses worst, so the quality search
runs longest); float32 and bfloat16 (the GPU dtype) inputs are both timed."""

from __future__ import annotations

import time

import torch

from bench.common import parser, print_table, summary_ms, write_results
from imagen.rendering.preview import encode_small, latent_rgb, latents_to_rgb, preview_jpeg

SIDE = 1024
FLOOR_S_PER_PICTURE = 0.368  # bench/RESULTS.md: FLUX.1-schnell, 4 steps, H100
STEPS = 4
BUDGET_MS = FLOOR_S_PER_PICTURE / STEPS * 1000 * 0.02

GPU_NOTE = """On the GPU the map runs where the latents are (latent_rgb: one addmm of 16384x16 by 16x3 and
a few elementwise kernels on 49 kB, microseconds), then .cpu() copies 49 kB of uint8 — which
waits for the step's queued kernels: call it in callback_on_step_end only after the step has
finished anyway (it has: the scheduler step ends the iteration), or copy non_blocking into pinned
memory and JPEG-encode on another thread (PIL releases the GIL) so the render thread never waits."""


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__).parse_args(argv)
    n = 20 if args.smoke else 300
    torch.manual_seed(0)
    tokens = (SIDE // 16) ** 2
    rows = []
    threads = torch.get_num_threads()
    for n_threads in sorted({1, threads}):
        torch.set_num_threads(n_threads)
        for dtype in (torch.float32, torch.bfloat16):
            packed = torch.randn(1, tokens, 64).to(dtype)
            picture = latents_to_rgb(packed, SIDE, SIDE)
            preview_jpeg(packed, SIDE, SIDE)  # warm-up
            stages = {
                "latent→RGB map to uint8 (torch)": lambda p=packed: latent_rgb(p, SIDE, SIDE),
                "JPEG encode (quality search)": lambda im=picture: encode_small(im),
                "preview_jpeg, all of it": lambda p=packed: preview_jpeg(p, SIDE, SIDE),
            }
            for stage, fn in stages.items():
                seconds = timed(fn, n)
                s = summary_ms(seconds)
                rows.append({"threads": n_threads, "dtype": str(dtype).removeprefix("torch."), "stage": stage,
                             "min_ms": min(seconds) * 1000, "p50_ms": s["p50_ms"], "p99_ms": s["p99_ms"],
                             "fits_budget": s["p50_ms"] <= BUDGET_MS})  # fmt: skip
    torch.set_num_threads(threads)
    size = len(preview_jpeg(torch.randn(1, tokens, 64), SIDE, SIDE))
    step_ms = FLOOR_S_PER_PICTURE / STEPS * 1000
    title = (f"Step preview cost on CPU: {SIDE}x{SIDE} FLUX latents → {SIDE // 8} px JPEG ({size} bytes); "
             f"budget {BUDGET_MS:.2f} ms (2 % of a {step_ms:.0f} ms H100 step)")  # fmt: skip
    print_table(title, rows)
    whole = [r for r in rows if r["stage"].startswith("preview_jpeg")]
    best = min(r["p50_ms"] for r in whole)
    print(f"\nwhole preview on this CPU: {best:.2f} ms p50 at best — {'within' if best <= BUDGET_MS else 'over'} "
          f"the {BUDGET_MS:.2f} ms budget if it ran on the render thread")  # fmt: skip
    print(GPU_NOTE)
    write_results("preview_cost", args, {"budget_ms": BUDGET_MS, "jpeg_bytes": size, "rows": rows})


if __name__ == "__main__":
    main()
