"""GPU run: the full FLUX.1-schnell architecture (its public configs, random weights, no
download) at 1024x1024, 4 steps, bf16, max_sequence_length 256, model resident. One run measures,
printing each figure as soon as it has it and rewriting the JSON after each (so a run stopped at a
time limit still leaves what it got):

1. eager seconds per picture (renderer.render, prompt embeddings cached as in a series), the ratio
   to the H100 floor, peak GPU memory;
2. where a picture's time goes: the 4 denoising steps, the VAE decode, and the copy back to the
   host (`postprocess` to PIL: .cpu(), float, numpy, uint8) — the part of result.images[0] the
   GPU waits through — and the renderer's own tail (`postprocess` to a tensor, then
   imagen.rendering.calls.to_picture: 8 bits on the device, then the copy), plus a step preview
   (imagen.rendering.preview) and the PNG encode on their own;
3. through the real worker loop (Worker over the memory queue and local storage, claim-ahead and
   store overlap on, as a GPU renderer gets by default): the GPU's idle share between consecutive
   tries, and the cost of step previews: the real progress publisher (BroadcastProgress, which
   encodes each sent step's JPEG on its own thread) over a send that counts and discards, with
   previews on against off;
4. torch.compile of the transformer (mode default, as DiffusersRenderer(compile=True) does): the
   compile time (first render), seconds per picture, idle share and preview cost through the
   loop, then whether a new picture size (1024x768 after 1024x1024) recompiles, and what it costs.

Without a GPU it runs the same code on the tiny architecture on the CPU (CI keeps it alive)."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import platform
import statistics
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import torch

from bench.common import RESULTS_DIR, check_goal, parser, print_table
from imagen.dev.tiny_models import build_tiny_flux, clip_tokenizer, t5_tokenizer
from imagen.jobs import Job
from imagen.rendering.png import encode_png, job_metadata
from imagen.rendering.preview import preview_jpeg
from imagen.rendering.render import FLUX_CALL_DEFAULTS, DiffusersRenderer

try:
    from imagen.rendering.render import to_picture
except ImportError:  # before the renderer rounded the picture to 8 bits on the device
    to_picture = None
from imagen.loop.worker import Worker
from imagen.transports.local_storage import LocalStorage
from imagen.transports.memory import memory_queue
from imagen.transports.progress import BroadcastProgress

FLOOR_SECONDS = 291e12 / 790e12  # 291 TFLOP per 1024² picture at an H100's 790 TFLOP/s: 0.368 s
GOAL_COMPILED_SECONDS = 0.48
GOAL_IDLE_SHARE = 0.02
PROMPT = "a lighthouse on a cliff at dusk"


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


def make_jobs(n: int, width: int, steps: int, height: int | None = None) -> list[Job]:
    series = uuid.uuid4()
    return [Job.build(id=uuid.uuid4(), owner_id=uuid.uuid4(), series_id=series, series_idx=i + 1, prompt=PROMPT,
                      model="flux-random", width=width, height=height or width, steps=steps, seed=1000 + i,
                      max_attempts=3) for i in range(n)]  # fmt: skip


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


class Results:
    """The JSON payload (bench.common.write_results' layout), rewritten after every figure."""

    def __init__(self, out: Path, smoke: bool) -> None:
        self.out = out
        self.payload = {"benchmark": "gpu_flux", "date": datetime.now(UTC).isoformat(timespec="seconds"),
                        "smoke": smoke, "machine": machine(), "results": {}}  # fmt: skip
        self.results = self.payload["results"]
        self.started = time.perf_counter()

    def put(self, key: str, value, say: str | None = None) -> None:
        self.results[key] = value
        self.save()
        if say:
            print(f"[{time.perf_counter() - self.started:6.1f}s] {say}", flush=True)

    def add_row(self, mode: str, timing: dict) -> dict:
        """The summary table's row for one mode (filled in further as figures come)."""
        row = {"mode": mode, "s_per_picture": timing["s_per_picture"],
               "ratio_to_floor": timing["s_per_picture"] / FLOOR_SECONDS}  # fmt: skip
        self.results["rows"].append(row)
        return row

    def save(self) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.write_text(json.dumps(self.payload, indent=2, default=str))


def machine() -> dict:
    """bench.common.machine() where it works (it asks psql for its version); the rest always."""
    info: dict = {}
    try:
        from bench.common import machine as common_machine

        info = common_machine()
    except Exception as exc:  # a GPU box without psql
        info = {"cpu": platform.processor(), "cores": os.cpu_count(), "python": platform.python_version(),
                "machine_error": f"{type(exc).__name__}: {exc}"}  # fmt: skip
    info["python"] = platform.python_version()
    info["torch"] = torch.__version__
    info["torch_cuda"] = torch.version.cuda
    for name in ("diffusers", "transformers", "huggingface_hub", "tokenizers", "triton"):
        try:  # the installed version, without importing the package (triton's import alone takes seconds)
            info[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            info[name] = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_sms"] = props.multi_processor_count
        info["gpu_memory_gib"] = props.total_memory / 2**30
        try:
            smi = subprocess.run(
                ["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm", "--format=csv,noheader"],
                capture_output=True, text=True, timeout=30,
            ).stdout.strip()  # fmt: skip
            info["nvidia_smi"] = smi
            info["driver"] = smi.split(",")[1].strip() if "," in smi else None
        except Exception as exc:
            info["nvidia_smi"] = f"{type(exc).__name__}: {exc}"
    return info


class TimedRenderer:
    """The renderer, noting when each render ran and how long its step callbacks took."""

    def __init__(self, inner: DiffusersRenderer) -> None:
        self.inner, self.model, self.device = inner, inner.model, inner.device
        self.spans: list[tuple[float, float]] = []
        self.callback_seconds = 0.0
        self.callbacks = 0

    def render(self, job, on_step=None):
        def timed_step(step, latents=None, **shown):
            started = time.perf_counter()
            try:
                return on_step(step, latents, **shown)
            finally:
                self.callback_seconds += time.perf_counter() - started
                self.callbacks += 1

        started = time.perf_counter()
        image = self.inner.render(job, timed_step if on_step is not None else None)
        self.spans.append((started, time.perf_counter()))
        return image


class CountingSend:
    """BroadcastProgress's `send`: counts the messages and their previews, sends nothing."""

    def __init__(self) -> None:
        self.messages = self.previews = self.preview_bytes = 0

    def __call__(self, batch: list[dict]) -> None:
        for message in batch:
            self.messages += 1
            if preview := message["payload"].get("preview_jpeg"):
                self.previews += 1
                self.preview_bytes += len(preview) * 3 // 4  # base64


def seconds_per_picture(renderer: DiffusersRenderer, size: int, steps: int, pictures: int) -> dict:
    """A warm-up render (the compile, when compiled), then `pictures` renders each timed alone."""
    jobs = make_jobs(pictures + 1, size, steps)
    sync(renderer.device)
    started = time.perf_counter()
    renderer.render(jobs[0])
    sync(renderer.device)
    first = time.perf_counter() - started
    times = []
    for job in jobs[1:]:
        started = time.perf_counter()
        renderer.render(job)
        sync(renderer.device)
        times.append(time.perf_counter() - started)
    return {"first_render_s": first, "times_s": times, "s_per_picture": statistics.fmean(times),
            "min_s": min(times), "median_s": median(times)}  # fmt: skip


def breakdown(renderer: DiffusersRenderer, size: int, steps: int, repeats: int) -> dict:
    """Denoising alone (output_type='latent'), VAE decode, and postprocess to PIL (the copy back),
    done as FluxPipeline's own tail does them; plus a step preview and a PNG encode alone."""
    pipe, device = renderer.pipe, renderer.device
    inputs = renderer._prompt_inputs(PROMPT)
    extra = FLUX_CALL_DEFAULTS if renderer.is_flux else {}
    denoise, decode, to_pil, copy, preview, png, begin, finish = [], [], [], [], [], [], [], []
    tail, identical = [], []
    try:
        from imagen.rendering.preview import start_preview
    except ImportError:  # before previews were split between the render and publisher threads
        start_preview = None
    job = make_jobs(1, size, steps)[0]
    for i in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        latents = pipe(**inputs, width=size, height=size, num_inference_steps=steps, output_type="latent",
                       generator=torch.Generator("cpu").manual_seed(i), **extra).images  # fmt: skip
        sync(device)
        t1 = time.perf_counter()
        with torch.no_grad():
            unpacked = pipe._unpack_latents(latents, size, size, pipe.vae_scale_factor)
            unpacked = unpacked / pipe.vae.config.scaling_factor + pipe.vae.config.shift_factor
            decoded = pipe.vae.decode(unpacked, return_dict=False)[0]
        sync(device)
        t2 = time.perf_counter()
        picture = pipe.image_processor.postprocess(decoded, output_type="pil")[0]
        t3 = time.perf_counter()
        sync(device)
        t4 = time.perf_counter()
        decoded.cpu()  # the raw device-to-host copy alone (bf16, 3 x size x size)
        t5 = time.perf_counter()
        if to_picture is not None:  # the renderer's tail: output_type="pt", then to_picture (ends in .cpu())
            sync(device)
            ta = time.perf_counter()
            mine = to_picture(pipe.image_processor.postprocess(decoded, output_type="pt")[0])
            tail.append(time.perf_counter() - ta)
            identical.append(mine.tobytes() == picture.tobytes())
            t5 = time.perf_counter()
        preview_jpeg(latents, size, size)  # the step latents are resident and finished (synced)
        t6 = time.perf_counter()
        if start_preview is not None:  # the worker's split: render thread, then publisher thread
            jpeg = start_preview(latents, size, size)
            t6a = time.perf_counter()
            jpeg()
            t6b = time.perf_counter()
            begin.append(t6a - t6)
            finish.append(t6b - t6a)
            t6 = time.perf_counter()
        encode_png(picture, job_metadata(job, renderer.model))
        t7 = time.perf_counter()
        denoise.append(t1 - t0)
        decode.append(t2 - t1)
        to_pil.append(t3 - t2)
        copy.append(t5 - t4)
        preview.append(t6 - t5)
        png.append(t7 - t6)
    step = median(denoise) / steps
    return {"repeats": repeats, "denoise_s": denoise, "step_ms": step * 1000, "vae_decode_ms": median(decode) * 1000,
            "postprocess_to_pil_ms": median(to_pil) * 1000, "raw_device_to_host_copy_ms": median(copy) * 1000,
            "postprocess_over_step": median(to_pil) / step, "preview_jpeg_ms": median(preview) * 1000,
            "png_encode_ms": median(png) * 1000, "start_preview_ms": median(begin) * 1000,
            "preview_jpeg_call_ms": median(finish) * 1000, "picture_size": list(picture.size),
            "to_picture_ms": median(tail) * 1000 if tail else None,
            "to_picture_over_step": median(tail) / step if tail else None,
            "to_picture_identical_to_pil": all(identical) if identical else None}  # fmt: skip


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def worker_series(renderer: DiffusersRenderer, size: int, steps: int, n: int, progress=None,
                  previews: bool = True) -> dict:  # fmt: skip
    """One burst of `n` tries through the real Worker loop (default overlap), timed."""
    timed = TimedRenderer(renderer)
    queue = memory_queue(make_jobs(n, size, steps))
    with tempfile.TemporaryDirectory() as tmp:
        worker = Worker(queue, LocalStorage(Path(tmp)), timed, poll_interval=0.1, progress=progress,
                        previews=previews)  # fmt: skip
        overlap = worker.overlap_io
        sync(renderer.device)
        started = time.perf_counter()
        stats = worker.run(burst=True)
        wall = time.perf_counter() - started
    assert stats.done == n, stats
    spans = timed.spans
    busy = sum(end - start for start, end in spans)
    gaps = [spans[i + 1][0] - spans[i][1] for i in range(len(spans) - 1)]
    between = spans[-1][1] - spans[0][0]
    out = {"tries": n, "overlap_io": overlap, "wall_s": wall, "render_s": [end - start for start, end in spans],
           "busy_s": busy, "gaps_ms": [g * 1000 for g in gaps],
           # GPU idle between consecutive tries (render end → next render start) over first start → last end
           "idle_share_between_tries": sum(gaps) / between if between > 0 else float("nan"),
           # the old figure: 1 - render time / the burst's wall time (includes the first claim and the last store)
           "idle_share_burst": 1 - busy / wall,
           "callback_ms_per_step": timed.callback_seconds / max(1, timed.callbacks) * 1000}  # fmt: skip
    if progress is not None:
        progress.close()
        send = progress._send
        out.update({"published": send.messages, "previews": send.previews,
                    "preview_bytes_mean": send.preview_bytes / max(1, send.previews)})  # fmt: skip
    return out


def preview_cost(renderer: DiffusersRenderer, size: int, steps: int, n: int, rounds: int, step_ms: float) -> dict:
    """Counting publisher with previews off, then on, `rounds` times interleaved; the difference
    in render time per step is what the previews cost the render thread (and so the GPU)."""
    off, on = [], []
    for _ in range(rounds):
        off.append(worker_series(renderer, size, steps, n, BroadcastProgress(CountingSend()), previews=False))
        on.append(worker_series(renderer, size, steps, n, BroadcastProgress(CountingSend()), previews=True))
    per_render_off = [t for r in off for t in r["render_s"]]
    per_render_on = [t for r in on for t in r["render_s"]]
    diff_ms = (statistics.fmean(per_render_on) - statistics.fmean(per_render_off)) / steps * 1000
    diff_median_ms = (median(per_render_on) - median(per_render_off)) / steps * 1000
    return {"rounds": rounds, "tries_per_round": n,
            "render_s_previews_off": per_render_off, "render_s_previews_on": per_render_on,
            "per_step_ms_mean_diff": diff_ms, "per_step_ms_median_diff": diff_median_ms,
            "percent_of_step": diff_ms / step_ms * 100,
            "callback_ms_per_step_off": statistics.fmean(r["callback_ms_per_step"] for r in off),
            "callback_ms_per_step_on": statistics.fmean(r["callback_ms_per_step"] for r in on),
            "previews_published": sum(r["previews"] for r in on),
            "preview_bytes_mean": statistics.fmean(r["preview_bytes_mean"] for r in on),
            "idle_share_between_tries_off": statistics.fmean(r["idle_share_between_tries"] for r in off),
            "idle_share_between_tries_on": statistics.fmean(r["idle_share_between_tries"] for r in on)}  # fmt: skip


def dynamo_counts() -> dict:
    from torch._dynamo.utils import counters

    return {group: dict(values) for group, values in counters.items() if group in ("stats", "frames", "recompiles")}


def timed_render(renderer: DiffusersRenderer, width: int, height: int, steps: int) -> float:
    job = make_jobs(1, width, steps, height)[0]
    sync(renderer.device)
    started = time.perf_counter()
    renderer.render(job)
    sync(renderer.device)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    p = parser(__doc__)
    p.add_argument("--size", choices=["full", "tiny"], help="default: full on a GPU, tiny otherwise")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile measurements")
    p.add_argument(
        "--time-budget",
        type=float,
        default=440.0,
        help="seconds from the start; later measurements that would not fit are skipped (default 440)",
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("imagen").setLevel(logging.INFO if not args.smoke else logging.WARNING)
    cuda = torch.cuda.is_available()
    size_kind = args.size or ("full" if cuda else "tiny")
    device, dtype = ("cuda", torch.bfloat16) if cuda else ("cpu", torch.float32)
    size, steps = (1024, 4) if size_kind == "full" else (256, 4)
    other = (size, size * 3 // 4)  # width, height: a second picture size for the recompile check
    pictures, series, rounds = (2, 3, 1) if args.smoke else (3, 4, 2)
    out = args.out or RESULTS_DIR / f"gpu_flux{'-smoke' if args.smoke else ''}.json"
    res = Results(out, args.smoke)
    card = torch.cuda.get_device_name(0) if cuda else "CPU (no GPU: tiny architecture)"
    m = res.payload["machine"]
    print(
        f"card {card}; driver {m.get('driver')}; torch {m['torch']} (CUDA {m['torch_cuda']}); "
        f"diffusers {m['diffusers']}; transformers {m['transformers']}; huggingface_hub {m['huggingface_hub']}; "
        f"python {m['python']}",
        flush=True,
    )
    res.results.update(
        {
            "card": card,
            "size": size_kind,
            "width": size,
            "height": size,
            "steps": steps,
            "dtype": str(dtype).removeprefix("torch."),
            "floor_s": FLOOR_SECONDS,
            "goals": {"compiled_s_per_picture": GOAL_COMPILED_SECONDS, "idle_share": GOAL_IDLE_SHARE},
            "rows": [],
        }
    )

    def past_budget(what: str, needs: float = 0.0) -> bool:
        """True (and noted) when fewer than `needs` seconds of the time budget are left."""
        over = time.perf_counter() - res.started + needs > args.time_budget
        if over:
            res.put(f"skipped_{what}", True, f"past the {args.time_budget:.0f} s budget: {what} skipped")
        return over

    started = time.perf_counter()
    pipe = build_full_flux(device, dtype) if size_kind == "full" else build_tiny_flux()
    res.put(
        "build_seconds",
        time.perf_counter() - started,
        f"built the {size_kind} architecture in {time.perf_counter() - started:.1f} s",
    )
    if cuda:
        sync(device)
        res.put(
            "weights_gib",
            torch.cuda.memory_allocated() / 2**30,
            f"weights resident: {torch.cuda.memory_allocated() / 2**30:.1f} GiB",
        )
        torch.cuda.reset_peak_memory_stats()
    renderer = DiffusersRenderer(
        f"flux-{size_kind}-random", device=device, dtype=str(dtype).removeprefix("torch."), pipeline=pipe
    )

    # 1. eager seconds per picture
    eager = seconds_per_picture(renderer, size, steps, pictures)
    res.put(
        "eager",
        eager,
        f"eager: {eager['s_per_picture']:.3f} s/picture (min {eager['min_s']:.3f}; "
        f"first render {eager['first_render_s']:.2f} s); ratio to floor {eager['s_per_picture'] / FLOOR_SECONDS:.2f}",
    )
    row = res.add_row("eager", eager)

    # 2. where the time goes
    parts = breakdown(renderer, size, steps, 2 if args.smoke else 3)
    res.put(
        "breakdown_eager",
        parts,
        f"eager step {parts['step_ms']:.1f} ms; VAE decode {parts['vae_decode_ms']:.1f} ms; postprocess to PIL "
        f"(copy back) {parts['postprocess_to_pil_ms']:.1f} ms = {parts['postprocess_over_step']:.2f} steps "
        f"(raw .cpu() {parts['raw_device_to_host_copy_ms']:.2f} ms); renderer's copy back (postprocess pt + "
        f"to_picture) {_ms(parts['to_picture_ms'])} ms, pixel-identical {parts['to_picture_identical_to_pil']}; "
        f"preview_jpeg {parts['preview_jpeg_ms']:.2f} ms "
        f"(split: start_preview {parts['start_preview_ms']:.2f} ms on the render thread, the JPEG call "
        f"{parts['preview_jpeg_call_ms']:.2f} ms on the publisher's); PNG encode {parts['png_encode_ms']:.1f} ms",
    )
    if cuda:
        res.put(
            "peak_gib_eager",
            torch.cuda.max_memory_allocated() / 2**30,
            f"peak GPU memory (eager) {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB allocated, "
            f"{torch.cuda.max_memory_reserved() / 2**30:.1f} GiB reserved",
        )

    # 3. the worker loop: idle share, then previews on against off
    loop = worker_series(renderer, size, steps, series)
    res.put(
        "loop_eager",
        loop,
        f"worker loop eager ({series} tries, overlap_io={loop['overlap_io']}): idle between tries "
        f"{loop['idle_share_between_tries'] * 100:.2f} % (gaps {', '.join(f'{g:.1f}' for g in loop['gaps_ms'])} ms); "
        f"burst idle {loop['idle_share_burst'] * 100:.2f} %; render in loop {median(loop['render_s']):.3f} s median",
    )
    row["idle_share"] = loop["idle_share_between_tries"]
    row["idle_share_burst"] = loop["idle_share_burst"]
    res.save()
    prev = preview_cost(renderer, size, steps, series, rounds, parts["step_ms"])
    res.put(
        "previews_eager",
        prev,
        f"previews eager: {prev['per_step_ms_mean_diff']:+.2f} ms/step mean ({prev['per_step_ms_median_diff']:+.2f} "
        f"median) = {prev['percent_of_step']:+.2f} % of a step; callback {prev['callback_ms_per_step_on']:.2f} ms/step "
        f"on vs {prev['callback_ms_per_step_off']:.3f} off; {prev['previews_published']} previews, "
        f"{prev['preview_bytes_mean']:.0f} B mean",
    )
    row["preview_ms_per_step"] = prev["per_step_ms_mean_diff"]

    # 4. torch.compile
    if not (args.no_compile or args.smoke) and not past_budget("compile"):
        torch._logging.set_logs(recompiles=True, graph_breaks=True)
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        before = dynamo_counts()
        renderer.pipe.transformer = torch.compile(renderer.pipe.transformer)
        try:
            compile_first = timed_render(renderer, size, size, steps)
            res.put(
                "compile_first_render_s",
                compile_first,
                f"torch.compile: first render (compile included) {compile_first:.1f} s",
            )
            res.put("dynamo_after_first", dynamo_counts())
            compiled = seconds_per_picture(renderer, size, steps, pictures)
            after_steady = dynamo_counts()
            res.put(
                "compiled",
                compiled,
                f"compiled: {compiled['s_per_picture']:.3f} s/picture (min {compiled['min_s']:.3f}); ratio to "
                f"floor {compiled['s_per_picture'] / FLOOR_SECONDS:.2f}; goal <= {GOAL_COMPILED_SECONDS} "
                f"{'met' if compiled['s_per_picture'] <= GOAL_COMPILED_SECONDS else 'NOT met'}",
            )
            if cuda:  # the goal is the GPU's; the CPU's tiny architecture has none
                seconds = compiled["s_per_picture"]
                check_goal("gpu_flux", "compiled s a picture (1024², 4 steps)", seconds,
                           f"<= {GOAL_COMPILED_SECONDS}", seconds <= GOAL_COMPILED_SECONDS)  # fmt: skip
            crow = res.add_row("torch.compile", compiled)
            res.put(
                "dynamo_steady",
                {"before": before, "after_steady": after_steady},
                f"dynamo counters before compile {before}, after the steady renders {after_steady}",
            )
            if cuda:
                res.put(
                    "peak_gib_compiled",
                    torch.cuda.max_memory_allocated() / 2**30,
                    f"peak GPU memory (compiled) {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB",
                )
            cparts = breakdown(renderer, size, steps, 2)
            res.put(
                "breakdown_compiled",
                cparts,
                f"compiled step {cparts['step_ms']:.1f} ms; postprocess to PIL {cparts['postprocess_to_pil_ms']:.1f} "
                f"ms = {cparts['postprocess_over_step']:.2f} steps; renderer's copy back (to_picture) "
                f"{_ms(cparts['to_picture_ms'])} ms",
            )
            cloop = worker_series(renderer, size, steps, series)
            res.put(
                "loop_compiled",
                cloop,
                f"worker loop compiled: idle between tries {cloop['idle_share_between_tries'] * 100:.2f} % "
                f"(gaps {', '.join(f'{g:.1f}' for g in cloop['gaps_ms'])} ms); burst idle "
                f"{cloop['idle_share_burst'] * 100:.2f} %; render in loop {median(cloop['render_s']):.3f} s median",
            )
            crow["idle_share"] = cloop["idle_share_between_tries"]
            crow["idle_share_burst"] = cloop["idle_share_burst"]
            res.save()
            if not past_budget("compiled previews"):
                cprev = preview_cost(renderer, size, steps, series, 1, cparts["step_ms"])
                res.put(
                    "previews_compiled",
                    cprev,
                    f"previews compiled: {cprev['per_step_ms_mean_diff']:+.2f} ms/step mean = "
                    f"{cprev['percent_of_step']:+.2f} % of a step; callback {cprev['callback_ms_per_step_on']:.2f} "
                    f"ms/step",
                )
                crow["preview_ms_per_step"] = cprev["per_step_ms_mean_diff"]
            if not past_budget("size change", needs=120):
                w, h = other
                size_change = {"from": [size, size], "to": [w, h], "before": dynamo_counts()}
                size_change["first_s"] = timed_render(renderer, w, h, steps)
                res.put(
                    "size_change", size_change, f"size change to {w}x{h}: first render {size_change['first_s']:.1f} s"
                )
                size_change["second_s"] = timed_render(renderer, w, h, steps)
                # a dynamic-shape graph from the recompile may now serve the first size too: is it slower?
                back = [timed_render(renderer, size, size, steps) for _ in range(2)]
                size_change["back_to_first_size_s"] = back
                size_change["after"] = dynamo_counts()
                size_change["recompile_s"] = size_change["first_s"] - size_change["second_s"]
                res.put(
                    "size_change",
                    size_change,
                    f"size change: {w}x{h} first {size_change['first_s']:.2f} s, "
                    f"second {size_change['second_s']:.2f} s "
                    f"(recompile ~{size_change['recompile_s']:.1f} s); back at {size}x{size}: "
                    f"{', '.join(f'{t:.3f}' for t in back)} s; dynamo {size_change['after']}",
                )
                if not past_budget("third size", needs=60):
                    third = timed_render(renderer, h, w, steps)
                    res.put(
                        "third_size_s",
                        {"size": [h, w], "first_s": third, "after": dynamo_counts()},
                        f"third size {h}x{w}: first render {third:.2f} s; dynamo {dynamo_counts()}",
                    )
        except Exception as exc:  # keep the eager figures
            import traceback

            traceback.print_exc()
            res.put("compile_error", f"{type(exc).__name__}: {exc}", f"compiled measurements failed: {exc}")

    print_table(
        f"FLUX.1-schnell architecture ({size_kind}), {size}x{size}, {steps} steps, {dtype}, on {card}",
        res.results["rows"],
    )
    print(
        f"\nfloor {FLOOR_SECONDS:.3f} s/picture (H100, 291 TFLOP at 790 TFLOP/s) — "
        f"{'meaningful' if size_kind == 'full' else 'not meaningful at tiny size'}"
    )
    res.put("total_seconds", time.perf_counter() - res.started)
    print(f"\nresults written to {out}")


if __name__ == "__main__":
    main()
