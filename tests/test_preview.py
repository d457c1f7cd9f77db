"""Step previews: real latents of the tiny FLUX and SDXL pipelines become small JPEGs."""

from __future__ import annotations

import io

import pytest
import torch
from PIL import Image

from imagen.rendering.preview import (
    FLUX_RGB_BIAS,
    MAX_BYTES,
    SDXL_RGB_BIAS,
    latent_rgb,
    preview_jpeg,
    unpack_flux_latents,
)
from imagen.rendering.render import FLUX_CALL_DEFAULTS, DiffusersRenderer


def step_latents(renderer: DiffusersRenderer, width: int, height: int, **call) -> list[torch.Tensor]:
    captured = []

    def step_end(pipe, step, timestep, callback_kwargs):
        captured.append(callback_kwargs["latents"].detach().clone())
        return callback_kwargs

    renderer.pipe(prompt="a red boat", width=width, height=height, num_inference_steps=2,
                  generator=torch.Generator("cpu").manual_seed(3), callback_on_step_end=step_end,
                  callback_on_step_end_tensor_inputs=["latents"], **call)  # fmt: skip
    return captured


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    image.load()
    return image


def expected_colour(bias) -> tuple[int, ...]:
    return tuple(round(min(1.0, max(0.0, (b + 1) / 2)) * 255) for b in bias)


@pytest.mark.parametrize(("width", "height"), [(256, 256), (384, 256)])
def test_flux_step_latents_give_a_small_jpeg_of_the_right_shape(renderer, width, height):
    latents = step_latents(renderer, width, height, **FLUX_CALL_DEFAULTS)
    assert len(latents) == 2 and latents[0].ndim == 3  # packed: (batch, tokens, 64)
    for step in latents:
        data = preview_jpeg(step, height=height, width=width)
        assert len(data) <= MAX_BYTES
        image = decoded(data)
        assert image.size == (width // 8, height // 8)  # the latent grid, under 256 px: kept
        assert image.width / image.height == pytest.approx(width / height)


def test_sdxl_step_latents_give_a_small_jpeg():
    from imagen.dev.tiny_models import tiny_path

    sdxl = DiffusersRenderer(str(tiny_path("tiny-sdxl")), device="cpu")
    latents = step_latents(sdxl, 384, 256)
    assert latents[0].shape[1] == 4
    image = decoded(preview_jpeg(latents[-1], height=256, width=384))
    assert image.size == (48, 32)


def test_unpacking_matches_diffusers():
    from diffusers import FluxPipeline

    packed = torch.randn(1, 16 * 24, 64)
    ours = unpack_flux_latents(packed, height=256, width=384)
    theirs = FluxPipeline._unpack_latents(packed, 256, 384, 8)
    assert torch.equal(ours, theirs) and ours.shape == (1, 16, 32, 48)
    # Mapping the packed tokens first gives the same picture as unpacking first.
    assert torch.equal(latent_rgb(packed, 256, 384), latent_rgb(theirs, 256, 384))


@pytest.mark.parametrize(("latents", "bias"), [
    (torch.zeros(1, 64 * 64, 64), FLUX_RGB_BIAS),
    (torch.zeros(1, 4, 128, 128), SDXL_RGB_BIAS),
])  # fmt: skip
def test_zero_latents_are_the_bias_colour(latents, bias):
    image = decoded(preview_jpeg(latents, height=1024, width=1024)).convert("RGB")
    assert image.size == (128, 128)
    want = expected_colour(bias)
    for got in (image.getpixel((0, 0)), image.getpixel((64, 64))):
        assert all(abs(g - w) <= 2 for g, w in zip(got, want, strict=True)), (got, want)


def test_large_noisy_latents_are_downscaled_and_squeezed_under_the_limit():
    # 4096x2048 → a 512x256 latent grid of pure noise: the hardest case for JPEG.
    data = preview_jpeg(torch.randn(1, 4, 256, 512) * 3, height=2048, width=4096)
    assert len(data) <= MAX_BYTES
    assert decoded(data).size == (256, 128)
