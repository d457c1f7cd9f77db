"""IMAGEN_MEMORY_MODE (imagen.rendering.memory): which mode `auto` picks for a card's free memory,
measured on FLUX.1-schnell's real architecture (weightless, on the meta device) with the free-memory
reading passed in; and each mode applied to the tiny FLUX pipeline on the CPU: the offloading hooks are in
place and the pictures match the resident pipeline's (float8 storage within a tolerance)."""

from __future__ import annotations

from typing import get_args

import numpy as np
import pytest
import torch
from bench.gpu_flux import build_full_flux
from diffusers.hooks.group_offloading import _is_group_offload_enabled

from imagen.config import ConfigError, load_settings
from imagen.dev.tiny_models import build_tiny_flux
from imagen.rendering.memory import (
    GIB,
    MODES,
    Footprint,
    MemoryModeSetting,
    apply_memory_mode,
    resolve_memory_mode,
    weights_on,
)
from imagen.rendering.render import DiffusersRenderer
from tests.test_compile_warm_up import job

# FLUX.1-schnell at 1024², GiB free each mode needs (docs: config.py's IMAGEN_MEMORY_MODE).
FLUX_NEEDS_GIB = {"full": 35.4, "text-offload": 27.3, "float8-storage": 27.4, "float8-text-offload": 19.3,
                  "model-offload": 26.1, "sequential-offload": 5.0}  # fmt: skip
TEXT_ENCODERS = ("text_encoder", "text_encoder_2")


@pytest.fixture(scope="module")
def flux_schnell():
    """FLUX.1-schnell's published component configs, no weights (0.5 s, no memory)."""
    return build_full_flux("meta", torch.bfloat16)


def auto(flux_schnell, free_gib: float, **settings) -> tuple[str, str]:
    return resolve_memory_mode("auto", flux_schnell, "cuda", [(1024, 1024)], free_bytes=lambda _: free_gib * GIB,
                               **{"compile": False, "quantize": "none", **settings})  # fmt: skip


def test_the_setting_offers_auto_and_every_mode():
    assert get_args(MemoryModeSetting) == ("auto", *MODES)
    assert load_settings().memory_mode == "auto"


def test_what_each_mode_needs_for_flux_schnell_at_1024(flux_schnell):
    footprint = Footprint.of(flux_schnell)
    needs = {name: round(footprint.needed(mode, 1024 * 1024) / GIB, 1) for name, mode in MODES.items()}
    assert needs == FLUX_NEEDS_GIB


@pytest.mark.parametrize(
    ("card", "free_gib", "chosen"),
    [
        ("H100 80 GB", 79.0, "full"),
        ("A100 40 GB", 39.0, "full"),
        ("RTX 5090 32 GB", 31.0, "text-offload"),
        ("RTX 4090 24 GB", 23.2, "sequential-offload"),
        ("L4 24 GB", 21.8, "sequential-offload"),
        ("RTX 4060 8 GB", 7.5, "sequential-offload"),
    ],
)
def test_auto_picks_the_fastest_lossless_mode_that_fits(flux_schnell, card, free_gib, chosen):
    mode, why = auto(flux_schnell, free_gib)
    assert mode == chosen, card
    assert not MODES[mode].float8  # a lossy mode is never on by default
    assert f"{free_gib:.1f} GiB free" in why


def test_on_a_24_gb_card_auto_names_the_faster_lossy_mode(flux_schnell):
    mode, why = auto(flux_schnell, 23.2)
    assert mode == "sequential-offload"
    assert "IMAGEN_MEMORY_MODE=float8-text-offload" in why


def test_a_card_too_small_for_any_mode_stops_the_start(flux_schnell):
    with pytest.raises(ConfigError, match=r"auto: 3.0 GiB free.*sequential-offload\) needs 5.0 GiB"):
        auto(flux_schnell, 3.0)


def test_compile_narrows_auto_to_the_modes_that_compile(flux_schnell):
    assert auto(flux_schnell, 31.0, compile=True)[0] == "text-offload"
    with pytest.raises(ConfigError, match="IMAGEN_COMPILE limits the choice to full and text-offload"):
        auto(flux_schnell, 23.2, compile=True)


def test_weights_already_on_the_card_count_as_free_for_auto(flux_schnell):
    footprint = Footprint.of(flux_schnell)
    assert weights_on(flux_schnell, "meta") == footprint.denoiser + footprint.text_encoders + footprint.others
    assert weights_on(flux_schnell, "cuda") == 0


def test_without_a_card_auto_is_full(flux_schnell):
    mode, why = resolve_memory_mode("auto", flux_schnell, "cpu", [(1024, 1024)], compile=False, quantize="none")
    assert mode == "full" and why == "auto: no accelerator memory to save on cpu"


@pytest.mark.parametrize(
    ("settings", "refused"),
    [
        ({"memory_mode": "float8-storage", "compile": True}, "torch.compile cannot trace"),
        ({"memory_mode": "float8-text-offload", "compile": True}, "IMAGEN_QUANTIZE=float8 is the float8 path"),
        ({"memory_mode": "model-offload", "compile": True}, "its weights move as it renders"),
        ({"memory_mode": "sequential-offload", "compile": True}, "its weights move as it renders"),
        ({"memory_mode": "float8-storage", "quantize": "float8"}, "both store the transformer in float8"),
        ({"memory_mode": "sequential-offload", "quantize": "float8"}, "use full or text-offload"),
        ({"memory_mode": "model-offload", "quantize": "float8"}, "use full or text-offload"),
    ],
)
def test_settings_refuse_the_combinations_that_cannot_work(settings, refused):
    with pytest.raises(ConfigError, match=rf"IMAGEN_MEMORY_MODE={settings['memory_mode']} .*{refused}"):
        load_settings(**settings)


@pytest.mark.parametrize("settings", [{"memory_mode": "text-offload", "compile": True},
                                      {"memory_mode": "text-offload", "quantize": "float8"},
                                      {"memory_mode": "full", "compile": True, "quantize": "float8"}])  # fmt: skip
def test_settings_accept_the_combinations_that_work(settings):
    assert load_settings(**settings).memory_mode == settings["memory_mode"]


# -- each mode applied to the tiny FLUX pipeline on the CPU ---------------------------------------


def render(pipe) -> torch.Tensor:
    seed = torch.Generator("cpu").manual_seed(3)
    return pipe("a red fox in the snow", width=128, height=128, num_inference_steps=2, guidance_scale=0.0,
                max_sequence_length=32, generator=seed, output_type="pt").images[0]  # fmt: skip


@pytest.fixture(scope="module")
def resident_picture():
    pipe = build_tiny_flux()
    pipe.set_progress_bar_config(disable=True)
    return render(pipe)


def test_float8_storage_renders_close_to_the_resident_weights(tiny_model):
    resident = DiffusersRenderer(tiny_model, device="cpu")
    stored = DiffusersRenderer(tiny_model, device="cpu", memory_mode="float8-storage")
    assert resident.memory_mode == "full" and stored.memory_mode == "float8-storage"
    dtypes = {p.dtype for p in stored.pipe.transformer.parameters()}
    assert dtypes == {torch.float8_e4m3fn, torch.float32}  # norms and embeddings keep the compute dtype
    assert {p.dtype for p in stored.pipe.text_encoder_2.parameters()} == {torch.float32}
    a, b = (torch.tensor(np.array(r.render(job(128, 128, steps=2))), dtype=torch.float32) for r in (resident, stored))
    difference = (a - b).abs()
    # It changes the picture, a little (measured: at most 10 levels, 0.54 on average, PSNR 49 dB).
    assert 0 < difference.max() <= 24
    assert difference.mean() <= 2


@pytest.mark.parametrize("mode", ["text-offload", "float8-text-offload", "sequential-offload"])
def test_group_offloading_streams_the_components_it_names(resident_picture, mode):
    pipe = build_tiny_flux()
    pipe.set_progress_bar_config(disable=True)
    apply_memory_mode(pipe, mode, "cpu")
    streamed = {name for name in ("text_encoder", "text_encoder_2", "transformer", "vae")
                if _is_group_offload_enabled(getattr(pipe, name))}  # fmt: skip
    everything = {"text_encoder", "text_encoder_2", "transformer", "vae"}
    assert streamed == (set(TEXT_ENCODERS) if mode.endswith("text-offload") else everything)
    for name in streamed:  # layer by layer: each linear layer arrives on its own, never a whole encoder
        linears = [m for m in getattr(pipe, name).modules() if isinstance(m, torch.nn.Linear)]
        assert linears and all(hasattr(m, "_diffusers_hook") and m._diffusers_hook.get_hook("group_offloading")
                               for m in linears), name  # fmt: skip
    assert (torch.float8_e4m3fn in {p.dtype for p in pipe.transformer.parameters()}) == MODES[mode].float8
    picture = render(pipe)
    if MODES[mode].float8:
        assert 0 < (picture - resident_picture).abs().mean() <= 2 / 255
    else:
        assert torch.equal(picture, resident_picture)  # streaming moves weights, never changes them


def test_model_offload_hooks_every_component(resident_picture):
    pipe = build_tiny_flux()
    pipe.set_progress_bar_config(disable=True)
    apply_memory_mode(pipe, "model-offload", "cpu")  # diffusers offloads to a "cpu" accelerator when told to
    assert all(hasattr(getattr(pipe, name), "_hf_hook") for name in (*TEXT_ENCODERS, "transformer", "vae"))
    assert torch.equal(render(pipe), resident_picture)


@pytest.mark.parametrize("mode", ["text-offload", "model-offload", "sequential-offload"])
def test_the_renderer_refuses_to_offload_without_a_card(tiny_model, mode):
    with pytest.raises(ConfigError, match=f"IMAGEN_MEMORY_MODE={mode} .*on device cpu there is no card to offload"):
        DiffusersRenderer(tiny_model, device="cpu", memory_mode=mode)


def test_the_chosen_mode_is_logged_once_at_start(tiny_model, caplog):
    with caplog.at_level("INFO", logger="imagen.rendering.render"):
        renderer = DiffusersRenderer(tiny_model, device="cpu")
    lines = [r.getMessage() for r in caplog.records if "memory mode" in r.getMessage()]
    assert renderer.memory_mode == "full"
    assert lines == ["memory mode full (auto: no accelerator memory to save on cpu)"]


def vary(pipe, picture: torch.Tensor) -> torch.Tensor:
    from diffusers import AutoPipelineForImage2Image

    variations = AutoPipelineForImage2Image.from_pipe(pipe)  # as DiffusersRenderer.image_to_image makes it
    variations.set_progress_bar_config(disable=True)
    seed = torch.Generator("cpu").manual_seed(4)
    return variations("a red fox in the snow", image=picture[None], strength=0.6, width=128, height=128,
                      num_inference_steps=3, guidance_scale=0.0, max_sequence_length=32, generator=seed,
                      output_type="pt").images[0]  # fmt: skip


@pytest.mark.parametrize("mode", ["text-offload", "model-offload", "sequential-offload"])
def test_variations_reuse_the_offloaded_components(resident_picture, mode):
    resident = build_tiny_flux()
    offloaded = build_tiny_flux()
    apply_memory_mode(offloaded, mode, "cpu")
    assert torch.equal(vary(offloaded, resident_picture), vary(resident, resident_picture))
