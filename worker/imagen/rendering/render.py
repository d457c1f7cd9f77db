"""Rendering one try with diffusers (the Renderer the worker runs). The pipeline is loaded once
and kept resident."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from PIL import Image

from imagen.config import ConfigError, ModelLoadError, model_folder
from imagen.jobs import BadSettings, Job, RenderAborted
from imagen.monitoring.prompt_filter import withheld
from imagen.plugins import MODELS, plugin
from imagen.rendering.compile import compile_denoiser, warm_up
from imagen.rendering.memory import apply_memory_mode, free_accelerator_bytes, resolve_memory_mode

log = logging.getLogger(__name__)

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
# FLUX.1-schnell is distilled for few steps without guidance; 256 tokens is its prompt limit.
FLUX_CALL_DEFAULTS = {"guidance_scale": 0.0, "max_sequence_length": 256}


def pick_device(requested: str | None = None) -> str:
    if requested:
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(device: str, requested: str | None = None) -> torch.dtype:
    if requested:
        if requested not in DTYPES:
            raise ValueError(f"IMAGEN_DTYPE must be one of {', '.join(DTYPES)}, got {requested!r}")
        return DTYPES[requested]
    return torch.bfloat16 if device.startswith("cuda") else torch.float32


def resolve_model(model: str) -> str:
    """A plugin's model name (imagen.models: the tiny development models) is built on first use;
    a local path must hold a pipeline; anything else is a hub id."""
    if (build := plugin(MODELS, model)) is not None:
        return str(build(model))
    try:
        folder = model_folder(model)
    except ValueError as exc:
        raise ModelLoadError(f"IMAGEN_MODEL={exc}") from None
    return str(folder) if folder is not None else model


def load_pipeline(model: str, dtype: torch.dtype):
    """The pipeline `model` names (a hub id, a folder, a model built in code), loaded once."""
    # The class model_index.json names, imported alone: AutoPipelineForText2Image imports every
    # pipeline diffusers has to map names (2.6 s more at every worker start, a busy CPU).
    from diffusers import DiffusionPipeline

    try:
        return DiffusionPipeline.from_pretrained(resolve_model(model), dtype=dtype)
    except Exception as exc:
        raise ModelLoadError(f"cannot load IMAGEN_MODEL={model!r}: {exc}".splitlines()[0]) from exc


def model_options(job: Job, flux: bool) -> dict:
    """The model's own call options (FLUX.1-schnell's), with the try's guidance over them when it has one."""
    guidance = {"guidance_scale": float(job.settings["guidance"])} if "guidance" in job.settings else {}
    return (FLUX_CALL_DEFAULTS if flux else {}) | guidance


def variation_call(job: Job, source: Image.Image, flux: bool) -> dict:
    """The image-to-image call of a variation: its source at the try's size, `strength` % anew."""
    strength = job.settings["strength"] / 100
    picture = source.convert("RGB").resize((job.width, job.height), Image.Resampling.LANCZOS)
    call = {"image": picture, "strength": strength,
            "num_inference_steps": image_to_image_steps(job.steps, strength, flux)}  # fmt: skip
    if flux:  # FLUX's image-to-image renders at its default size unless told
        call |= {"width": job.width, "height": job.height}
    return call


def image_to_image_steps(steps: int, strength: float, flux: bool) -> int:
    """num_inference_steps that makes an image-to-image pipeline run `steps` steps: diffusers runs
    only the last `strength` of them (get_timesteps: FLUX keeps n - int(n - n * strength), SDXL
    int(n * strength)). So a variation's steps are the steps it renders, as a try's are."""
    n = steps
    while (n - int(max(n - n * strength, 0)) if flux else min(int(n * strength), n)) < steps:
        n += 1
    return n


def to_picture(image: torch.Tensor) -> Image.Image:
    """A decoded (3, H, W) picture in 0..1 → PIL, rounded to 8 bits as diffusers' numpy_to_pil
    does but where the picture is: on a GPU the conversion would otherwise run on the CPU after a
    copy of 4 bytes a channel, with the GPU idle (~20 ms, 3 % of a 1024² FLUX picture on an H200)."""
    pixels = image.float().mul(255).round().to(torch.uint8).permute(1, 2, 0)
    return Image.fromarray(pixels.cpu().numpy(), "RGB")


def quantize_float8(module: torch.nn.Module, device: str) -> str:
    """Lossy: the module's linear layers in float8 with torchao. Dynamic float8 activations and
    weights (row-wise scales) where the GPU has float8 matmuls (compute capability 8.9 and up);
    float8 weights only elsewhere (the CPU). Returns which."""
    try:
        from torchao.quantization import (
            Float8DynamicActivationFloat8WeightConfig,
            Float8WeightOnlyConfig,
            PerRow,
            quantize_,
        )
    except ImportError as exc:
        raise ConfigError("IMAGEN_QUANTIZE=float8 needs torchao: pip install 'imagen[fp8]'") from exc
    if device.startswith("cuda") and torch.cuda.get_device_capability(torch.device(device)) >= (8, 9):
        quantize_(module, Float8DynamicActivationFloat8WeightConfig(granularity=PerRow()))
        return "float8 dynamic activations and weights"
    quantize_(module, Float8WeightOnlyConfig())
    return "float8 weights"


class DiffusersRenderer:
    # A new picture from the prompt, and a variation from a source picture (image-to-image).
    kinds = frozenset({"generate", "vary"})

    def __init__(
        self,
        model: str,
        device: str | None = None,
        dtype: str | None = None,
        compile: bool = False,
        share_prompt_embeddings: bool = True,
        pipeline=None,
        *,
        compile_scope: str = "blocks",
        compile_dynamic: bool = False,
        compile_mode: str | None = None,
        compile_vae: bool = False,
        compile_cache_dir: Path | str | None = None,
        attention_backend: str | None = None,
        quantize: str = "none",
        memory_mode: str = "auto",
        sizes: Iterable[tuple[int, int]] = ((1024, 1024),),
        free_memory: Callable[[str], int | None] = free_accelerator_bytes,
    ) -> None:
        """Loads `model` once with from_pretrained (or adopts an already built `pipeline`).

        compile: torch.compile the denoiser: its repeated blocks (compile_scope "blocks") or all of
        it ("model"), one graph a size (compile_dynamic False) or one dynamic-shape graph, with
        torch.compile's `mode`; compile_vae: the VAE too, channels-last. Compiling happens on the
        first render of each size: call warm_up(sizes) before serving. attention_backend: a
        diffusers attention backend name for the denoiser. quantize "float8": lossy, see
        quantize_float8. memory_mode: where the weights live (imagen.rendering.memory; auto picks
        from the free memory free_memory(device) reads, for the largest of `sizes`)."""
        self.model = model
        # The tries of a series share a prompt: encode it once, reuse it for every try.
        self.share_prompt_embeddings = share_prompt_embeddings
        self._prompt_cache: tuple[str, dict] | None = None
        self._image_to_image = None
        self.device = pick_device(device)
        self.dtype = pick_dtype(self.device, dtype)
        started = time.perf_counter()
        if pipeline is None:
            pipeline = load_pipeline(model, self.dtype)
        if quantize not in ("none", "float8"):
            raise ConfigError(f"IMAGEN_QUANTIZE must be none or float8, got {quantize!r}")
        self.memory_mode, why = resolve_memory_mode(
            memory_mode, pipeline, self.device, sizes, compile=compile, quantize=quantize, free_bytes=free_memory
        )
        apply_memory_mode(pipeline, self.memory_mode, self.device)
        log.info("memory mode %s (%s)", self.memory_mode, why)
        self.pipe = pipeline
        self.pipe.set_progress_bar_config(disable=True)
        self.is_flux = "Flux" in type(self.pipe).__name__
        # FLUX packs 2x2 latent patches, so sizes must divide by twice the VAE factor.
        self.size_multiple = self.pipe.vae_scale_factor * (2 if self.is_flux else 1)
        denoiser = self.pipe.transformer if self.is_flux else self.pipe.unet
        if attention_backend:
            denoiser.set_attention_backend(attention_backend)
        self.quantized = quantize_float8(denoiser, self.device) if quantize == "float8" else None
        self.compiled = compile
        self.compile_cache = None
        if compile:
            self.compile_cache = compile_denoiser(self.pipe, denoiser, compile_scope, compile_dynamic, compile_mode,
                                                  compile_vae, compile_cache_dir)  # fmt: skip
        compiled = f"{compile_scope},{'dynamic' if compile_dynamic else 'per-size'},{compile_mode or 'default'}"
        log.info("model loaded model=%s pipeline=%s device=%s dtype=%s compile=%s quantize=%s seconds=%.2f",
                 model, type(self.pipe).__name__, self.device, str(self.dtype).removeprefix("torch."),
                 compiled if compile else "off", self.quantized or "none", time.perf_counter() - started)  # fmt: skip

    @classmethod
    def from_settings(cls, settings) -> DiffusersRenderer:
        """The renderer imagen.config.Settings describe."""
        return cls(
            settings.model, settings.device, settings.dtype, settings.compile,
            compile_scope=settings.compile_scope, compile_dynamic=settings.compile_dynamic,
            compile_mode=settings.compile_mode, compile_vae=settings.compile_vae,
            compile_cache_dir=settings.compile_cache_dir, attention_backend=settings.attention_backend,
            quantize=settings.quantize, memory_mode=settings.memory_mode, sizes=settings.sizes,
        )  # fmt: skip

    def warm_up(self, sizes: Iterable[tuple[int, int]]) -> float | None:
        """With compile on, renders each served size once before the first try (see
        imagen.rendering.compile.warm_up); the seconds it took, or None without compile."""
        return warm_up(self, sizes)

    def check_size(self, width: int, height: int) -> None:
        for name, value in (("width", width), ("height", height)):
            if value <= 0 or value % self.size_multiple:
                raise BadSettings(f"{name} {value} is not a positive multiple of {self.size_multiple}")

    def _prompt_inputs(self, prompt: str) -> dict:
        """The prompt, or (FLUX) its embeddings from the last try with the same prompt."""
        if not (self.is_flux and self.share_prompt_embeddings):
            return {"prompt": prompt}
        if self._prompt_cache is None or self._prompt_cache[0] != prompt:
            with torch.no_grad():
                embeds, pooled, _ = self.pipe.encode_prompt(
                    prompt=prompt,
                    prompt_2=None,
                    device=self.pipe._execution_device,
                    max_sequence_length=FLUX_CALL_DEFAULTS["max_sequence_length"],
                )
            self._prompt_cache = (prompt, {"prompt_embeds": embeds, "pooled_prompt_embeds": pooled})
        return self._prompt_cache[1]

    def image_to_image(self):
        """The image-to-image pipeline over the resident components (diffusers' from_pipe: the
        same transformer, VAE and text encoders, compiled or quantized as they are; nothing is
        loaded again), made on the first variation."""
        if self._image_to_image is None:
            from diffusers import AutoPipelineForImage2Image

            self._image_to_image = AutoPipelineForImage2Image.from_pipe(self.pipe)
            self._image_to_image.set_progress_bar_config(disable=True)
        return self._image_to_image

    def render(
        self, job: Job, on_step: Callable[[int], bool] | None = None, source: Image.Image | None = None
    ) -> Image.Image:
        """Renders `job`; on_step(step) is called after each step and returns False to abort. A
        variation (kind vary) renders from `source`, its strength percent of it anew."""
        self.check_size(job.width, job.height)
        pipe, call = self.pipe, {"width": job.width, "height": job.height, "num_inference_steps": job.steps}
        if job.kind == "vary":
            if source is None:
                raise BadSettings("a variation needs the picture it varies")
            pipe, call = self.image_to_image(), variation_call(job, source, self.is_flux)
        aborted = False

        def step_end(pipe, step: int, timestep, callback_kwargs: dict) -> dict:
            nonlocal aborted
            if on_step is not None and not on_step(min(step + 1, job.steps), callback_kwargs.get("latents")):
                aborted = True
                pipe._interrupt = True
            return callback_kwargs

        with withheld(f"{job.prompt}, {job.style}" if job.style else job.prompt) as prompt:  # from libraries' logs
            result = pipe(
                **self._prompt_inputs(prompt),
                **call,
                # A CPU generator gives the same noise for a seed on any device.
                generator=torch.Generator("cpu").manual_seed(job.seed),
                callback_on_step_end=step_end,
                output_type="pt",
                **model_options(job, self.is_flux),
            )
        # An interrupted pipeline still decodes a picture; it must not be stored.
        if aborted:
            raise RenderAborted(job.label)
        return to_picture(result.images[0])
