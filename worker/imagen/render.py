"""Rendering one try with diffusers (the Renderer the worker runs). The pipeline is loaded once
and kept resident."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image

from imagen.config import ModelLoadError
from imagen.jobs import BadSettings, Job, RenderAborted

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
    """A tiny model name is built on first use; a local path must exist; anything else is a hub id."""
    from imagen.dev.tiny_models import TINY_KINDS, tiny_path

    if model in TINY_KINDS:  # development models, built in code on first use
        return str(tiny_path(model))
    looks_like_path = model.startswith((".", "/", "~")) or Path(model).exists()
    if looks_like_path:
        path = Path(model).expanduser()
        if not (path / "model_index.json").is_file():
            raise ModelLoadError(
                f"IMAGEN_MODEL={model!r}: no diffusers pipeline there (model_index.json missing or unreadable)"
            )
        return str(path)
    return model


def to_picture(image: torch.Tensor) -> Image.Image:
    """A decoded (3, H, W) picture in 0..1 → PIL, rounded to 8 bits as diffusers' numpy_to_pil
    does but where the picture is: on a GPU the conversion would otherwise run on the CPU after a
    copy of 4 bytes a channel, with the GPU idle (~20 ms, 3 % of a 1024² FLUX picture on an H200)."""
    pixels = image.float().mul(255).round().to(torch.uint8).permute(1, 2, 0)
    return Image.fromarray(pixels.cpu().numpy(), "RGB")


class DiffusersRenderer:
    def __init__(
        self,
        model: str,
        device: str | None = None,
        dtype: str | None = None,
        compile: bool = False,
        share_prompt_embeddings: bool = True,
        pipeline=None,
    ) -> None:
        """Loads `model` once with from_pretrained (or adopts an already built `pipeline`)."""
        from diffusers import AutoPipelineForText2Image

        self.model = model
        # The tries of a series share a prompt: encode it once, reuse it for every try.
        self.share_prompt_embeddings = share_prompt_embeddings
        self._prompt_cache: tuple[str, dict] | None = None
        self.device = pick_device(device)
        self.dtype = pick_dtype(self.device, dtype)
        started = time.perf_counter()
        if pipeline is None:
            source = resolve_model(model)
            try:
                pipeline = AutoPipelineForText2Image.from_pretrained(source, dtype=self.dtype)
            except Exception as exc:
                raise ModelLoadError(f"cannot load IMAGEN_MODEL={model!r}: {exc}".splitlines()[0]) from exc
        self.pipe = pipeline.to(self.device)
        self.pipe.set_progress_bar_config(disable=True)
        self.is_flux = "Flux" in type(self.pipe).__name__
        # FLUX packs 2x2 latent patches, so sizes must divide by twice the VAE factor.
        self.size_multiple = self.pipe.vae_scale_factor * (2 if self.is_flux else 1)
        if compile:
            denoiser = "transformer" if self.is_flux else "unet"
            setattr(self.pipe, denoiser, torch.compile(getattr(self.pipe, denoiser)))
        log.info(
            "model loaded model=%s pipeline=%s device=%s dtype=%s seconds=%.2f",
            model, type(self.pipe).__name__, self.device, str(self.dtype).removeprefix("torch."),
            time.perf_counter() - started,
        )  # fmt: skip

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

    def render(self, job: Job, on_step: Callable[[int], bool] | None = None) -> Image.Image:
        """Renders `job`; on_step(step) is called after each step and returns False to abort."""
        self.check_size(job.width, job.height)
        aborted = False

        def step_end(pipe, step: int, timestep, callback_kwargs: dict) -> dict:
            nonlocal aborted
            if on_step is not None and not on_step(step + 1, callback_kwargs.get("latents")):
                aborted = True
                pipe._interrupt = True
            return callback_kwargs

        prompt = f"{job.prompt}, {job.style}" if job.style else job.prompt
        result = self.pipe(
            **self._prompt_inputs(prompt),
            width=job.width,
            height=job.height,
            num_inference_steps=job.steps,
            # A CPU generator gives the same noise for a seed on any device.
            generator=torch.Generator("cpu").manual_seed(job.seed),
            callback_on_step_end=step_end,
            output_type="pt",
            **(FLUX_CALL_DEFAULTS if self.is_flux else {}),
        )
        # An interrupted pipeline still decodes a picture; it must not be stored.
        if aborted:
            raise RenderAborted(job.label)
        return to_picture(result.images[0])
