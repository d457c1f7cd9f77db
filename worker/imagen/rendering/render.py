"""Rendering one try with diffusers (the Renderer the worker runs). The pipeline is loaded once
and kept resident."""

from __future__ import annotations

import inspect
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
from imagen.rendering.calls import FLUX_CALL_DEFAULTS, from_resident, model_options
from imagen.rendering.compile import compile_denoiser, warm_up
from imagen.rendering.kinds import KINDS
from imagen.rendering.memory import apply_memory_mode, free_accelerator_bytes, resolve_memory_mode

log = logging.getLogger(__name__)

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


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
    kinds = frozenset(KINDS)  # imagen.rendering.kinds: new pictures, variations, upscales, edits

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
        self._derived: dict[str, object] = {}
        self.sizes = tuple(sizes)  # the sizes it serves; an upscale's tile is the largest
        self.device = pick_device(device)
        self.dtype = pick_dtype(self.device, dtype)
        started = time.perf_counter()
        if pipeline is None:
            pipeline = load_pipeline(model, self.dtype)
        if quantize not in ("none", "float8"):
            raise ConfigError(f"IMAGEN_QUANTIZE must be none or float8, got {quantize!r}")
        self.memory_mode, why = resolve_memory_mode(
            memory_mode, pipeline, self.device, self.sizes, compile=compile, quantize=quantize, free_bytes=free_memory
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

    def derived(self, task: str):
        """The resident model's "image-to-image" or "inpainting" pipeline (calls.from_resident),
        made when a try first needs it."""
        if task not in self._derived:
            self._derived[task] = from_resident(self.pipe, task)
        return self._derived[task]

    def render(self, job: Job, on_step: Callable[..., bool] | None = None, **inputs: Image.Image) -> Image.Image:
        """Renders `job` by its kind (rendering.kinds), with its pictures (source, mask) if any;
        on_step(step, latents, size) after each step returns False to abort."""
        self.check_size(job.width, job.height)
        if job.kind not in KINDS:
            raise BadSettings(f"kind {job.kind!r} is not a kind of work this renderer knows")
        if missing := [name for name in list(inspect.signature(KINDS[job.kind]).parameters)[3:] if name not in inputs]:
            raise BadSettings(f"a {job.kind} try needs its {' and '.join(missing)} picture")
        return KINDS[job.kind](self, job, on_step, **inputs)

    def run(self, pipe, call: dict, job: Job, on_step, *, seed: int | None = None, step_of=None, size=None):
        """One pipeline call for `job` (its prompt, seed, options over `call`): the decoded (3, H, W)
        picture. on_step gets the try's step (step_of maps the call's) and the latents (of `size`)."""
        aborted = False
        shown = {"size": size} if size else {}  # only a picture not of the try's size says so

        def step_end(pipe, step: int, timestep, callback_kwargs: dict) -> dict:
            nonlocal aborted
            done = min(step + 1 if step_of is None else step_of(step + 1), job.steps)
            if on_step is not None and not on_step(done, callback_kwargs.get("latents"), **shown):
                aborted = True
                pipe._interrupt = True
            return callback_kwargs

        prompt = f"{job.prompt}, {job.style}" if job.style else job.prompt
        with withheld(prompt):  # a library that logs a piece of it (diffusers: a long prompt's cut-off tail)
            # A CPU generator gives the same noise for a seed on any device.
            noise = torch.Generator("cpu").manual_seed(job.seed if seed is None else seed)
            result = pipe(**self._prompt_inputs(prompt), **call, generator=noise, callback_on_step_end=step_end,
                          output_type="pt", **model_options(job, self.is_flux))  # fmt: skip
        # An interrupted pipeline still decodes a picture; it must not be stored.
        if aborted:
            raise RenderAborted(job.label)
        return result.images[0]
