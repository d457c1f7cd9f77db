"""GPU run: the full FLUX.1-schnell architecture (its public configs, random weights, no
download) at 1024x1024, 4 steps, bf16, max_sequence_length 256, model resident. Prints seconds
per picture eager and with torch.compile, peak GPU memory, the GPU's idle share between
consecutive tries of a series through the worker loop, and the ratio to the H100 floor.
Without a GPU it runs the same code on the tiny architecture on the CPU (CI keeps it alive)."""

from __future__ import annotations

import contextlib
import tempfile
import time
import uuid
from pathlib import Path

import torch

from bench.common import parser, print_table, write_results
from imagen.dev.tiny_models import build_tiny_flux, clip_tokenizer, t5_tokenizer
from imagen.jobs import Job
from imagen.render import DiffusersRenderer
from imagen.transports.local_storage import LocalStorage
from imagen.transports.memory import memory_queue
from imagen.worker import Worker

FLOOR_SECONDS = 291e12 / 790e12  # 291 TFLOP per 1024² picture at an H100's 790 TFLOP/s: 0.368 s


def build_full_flux(device: str, dtype: torch.dtype):
    """FLUX.1-schnell's published component configs, weights random, built directly on `device`."""
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            transformer = FluxTransformer2DModel(
                patch_size=1, in_channels=64, num_layers=19, num_single_layers=38, attention_head_dim=128,
                num_attention_heads=24, joint_attention_dim=4096, pooled_projection_dim=768,
                guidance_embeds=False, axes_dims_rope=(16, 56, 56),
            )  # fmt: skip
            vae = AutoencoderKL(
                in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
                up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(128, 256, 512, 512),
                layers_per_block=2, latent_channels=16, norm_num_groups=32, sample_size=1024,
                scaling_factor=0.3611, shift_factor=0.1159, use_quant_conv=False, use_post_quant_conv=False,
            )  # fmt: skip
            clip = CLIPTextModel(CLIPTextConfig(
                hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
                projection_dim=768, vocab_size=49408, max_position_embeddings=77, hidden_act="quick_gelu",
            ))  # fmt: skip
            t5 = T5EncoderModel(T5Config(
                d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64, vocab_size=32128,
                feed_forward_proj="gated-gelu", relative_attention_num_buckets=32,
            ))  # fmt: skip
    finally:
        torch.set_default_dtype(previous)
    pipe = FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=1.0), vae=vae, text_encoder=clip,
        tokenizer=clip_tokenizer(), text_encoder_2=t5, tokenizer_2=t5_tokenizer(), transformer=transformer,
    )  # fmt: skip
    for module in (transformer, vae, clip, t5):
        module.eval()
    return pipe


def make_jobs(n: int, size: int, steps: int) -> list[Job]:
    series = uuid.uuid4()
    return [Job(uuid.uuid4(), uuid.uuid4(), series, i + 1, "a lighthouse on a cliff at dusk", "flux-random", size,
                size, steps, None, 1000 + i, 0, 3) for i in range(n)]  # fmt: skip


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def seconds_per_picture(renderer: DiffusersRenderer, size: int, steps: int, pictures: int) -> float:
    jobs = make_jobs(pictures + 1, size, steps)
    renderer.render(jobs[0])  # warm-up (and, compiled, the compilation)
    sync(renderer.device)
    started = time.perf_counter()
    for job in jobs[1:]:
        renderer.render(job)
    sync(renderer.device)
    return (time.perf_counter() - started) / pictures


class TimedRenderer:
    """The renderer, noting how long each render kept the device busy."""

    def __init__(self, inner: DiffusersRenderer) -> None:
        self.inner, self.model, self.device = inner, inner.model, inner.device
        self.busy = 0.0

    def render(self, job, on_step=None):
        started = time.perf_counter()
        image = self.inner.render(job, on_step)
        self.busy += time.perf_counter() - started
        return image


def idle_share(renderer: DiffusersRenderer, size: int, steps: int, n: int) -> float:
    """1 - (time rendering) / (wall time) over a series through the real worker loop."""
    timed = TimedRenderer(renderer)
    queue = memory_queue(make_jobs(n, size, steps))
    with tempfile.TemporaryDirectory() as tmp:
        worker = Worker(queue, LocalStorage(Path(tmp)), timed, poll_interval=0.1)
        started = time.perf_counter()
        stats = worker.run(burst=True)
        wall = time.perf_counter() - started
    assert stats.done == n, stats
    return 1 - timed.busy / wall


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--size", choices=["full", "tiny"], help="default: full on a GPU, tiny otherwise")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile measurement")
    args = p.parse_args()
    cuda = torch.cuda.is_available()
    size_kind = args.size or ("full" if cuda else "tiny")
    device, dtype = ("cuda", torch.bfloat16) if cuda else ("cpu", torch.float32)
    size, steps = (1024, 4) if size_kind == "full" else (256, 4)
    pictures, series = (2, 3) if args.smoke else (5, 10)

    started = time.perf_counter()
    pipe = build_full_flux(device, dtype) if size_kind == "full" else build_tiny_flux()
    build_seconds = time.perf_counter() - started
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    renderer = DiffusersRenderer(f"flux-{size_kind}-random", device=device, dtype=str(dtype).removeprefix("torch."),
                        pipeline=pipe)  # fmt: skip
    eager = seconds_per_picture(renderer, size, steps, pictures)
    idle = idle_share(renderer, size, steps, series)
    peak_gib = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
    rows = [{"mode": "eager", "s_per_picture": eager, "idle_share": idle, "ratio_to_floor": eager / FLOOR_SECONDS}]
    if not (args.no_compile or args.smoke):
        renderer.pipe.transformer = torch.compile(renderer.pipe.transformer)
        with contextlib.suppress(Exception):
            compiled = seconds_per_picture(renderer, size, steps, pictures)
            rows.append({"mode": "torch.compile", "s_per_picture": compiled,
                         "idle_share": idle_share(renderer, size, steps, series),
                         "ratio_to_floor": compiled / FLOOR_SECONDS})  # fmt: skip
    card = torch.cuda.get_device_name(0) if cuda else "CPU (no GPU: tiny architecture)"
    print_table(f"FLUX.1-schnell architecture ({size_kind}), {size}x{size}, {steps} steps, {dtype}, on {card}", rows)
    print(f"\nbuild {build_seconds:.1f}s; peak GPU memory {peak_gib and f'{peak_gib:.1f} GiB'}; "
          f"floor {FLOOR_SECONDS:.3f} s/picture (H100, 291 TFLOP at 790 TFLOP/s) — "
          f"{'meaningful' if size_kind == 'full' else 'not meaningful at tiny size'}")  # fmt: skip
    write_results("gpu_flux", args, {"card": card, "size": size_kind, "rows": rows, "peak_gib": peak_gib,
                                     "build_seconds": build_seconds})  # fmt: skip


if __name__ == "__main__":
    main()
