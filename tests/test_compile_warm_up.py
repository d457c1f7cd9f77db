"""A compiling worker compiles every size it serves before its first try (DiffusersRenderer.warm_up):
the tries that follow, at those sizes, compile nothing. Proved with torch.compile's
"fail_on_recompile" stance (any compile during a try raises) and Dynamo's graph counter, on the
tiny FLUX pipeline with Inductor on the CPU."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import torch
from torch._dynamo.utils import counters

from imagen.config import ConfigError, load_settings
from imagen.jobs import Job
from imagen.rendering.render import DiffusersRenderer

SIZES = [(256, 256), (256, 192)]
# Inductor's cache kept between runs, as a worker would keep it: the warm-up still traces every
# size (Dynamo is not cached), so the stance check below holds cold or warm; a warm cache only
# spares the suite the kernels' C++ builds (bench/compile_start.py measures cold against warm).
COMPILE_CACHE = Path.home() / ".cache" / "imagen" / "test-compile-cache"


def job(width: int, height: int, steps: int = 4, seed: int = 7) -> Job:
    return Job.build(id=uuid.uuid4(), owner_id=uuid.uuid4(), series_id=uuid.uuid4(), series_idx=1,
               prompt="a red fox in the snow", model="tiny", width=width, height=height, steps=steps,
               style="watercolour", seed=seed, attempts=0, max_attempts=3)  # fmt: skip


def graphs() -> int:
    return counters["stats"]["unique_graphs"]


@pytest.fixture(scope="module")
def warmed(tiny_model):
    settings = load_settings(
        model=tiny_model, device="cpu", compile=True, sizes="256x256,256x192",
        compile_cache_dir=COMPILE_CACHE,
    )  # fmt: skip
    renderer = DiffusersRenderer.from_settings(settings)
    before = graphs()
    seconds = renderer.warm_up(settings.sizes)
    return renderer, seconds, graphs() - before


def test_after_the_warm_up_a_try_at_a_served_size_compiles_nothing(warmed):
    renderer, seconds, compiled = warmed
    assert seconds is not None and seconds > 0
    assert compiled >= len(SIZES)  # one graph a size at least (a graph a block kind, per size)
    before = graphs()
    with torch.compiler.set_stance("fail_on_recompile"):
        for width, height in SIZES:  # another prompt, style, seed and step count than the warm-up's
            picture = renderer.render(job(width, height))
            assert picture.size == (width, height)
    assert graphs() == before


def test_a_size_left_out_of_the_warm_up_would_compile_in_the_try(warmed):
    """The check above bites: a size the warm-up did not render needs a compile."""
    renderer, _, _ = warmed
    with torch.compiler.set_stance("fail_on_recompile"), pytest.raises(RuntimeError, match="fail_on_recompile"):
        renderer.render(job(320, 256))


def test_without_compile_the_warm_up_renders_nothing(tiny_model):
    renderer = DiffusersRenderer(tiny_model, device="cpu")
    calls = []
    renderer.render = lambda *a, **k: calls.append(a)
    assert renderer.warm_up(SIZES) is None
    assert calls == []


def test_a_served_size_the_model_cannot_render_stops_the_start(tiny_model):
    renderer = DiffusersRenderer(tiny_model, device="cpu")
    with pytest.raises(ConfigError, match=r"IMAGEN_SIZES: 1000x1000: width 1000 is not a positive multiple of 16"):
        renderer.warm_up([(1024, 1024), (1000, 1000)])


def test_served_sizes_default_to_the_web_apps_presets():
    from tests.database import REPO_ROOT

    rules = (REPO_ROOT / "web" / "src" / "rules.ts").read_text()
    presets = rules.split("SIZE_PRESETS = [", 1)[1].split("]", 1)[0]
    import re

    offered = [(int(w), int(h)) for w, h in re.findall(r"width: (\d+), height: (\d+)", presets)]
    assert offered and list(load_settings().sizes) == offered
    assert load_settings(sizes="1024x1024, 1280x720").sizes == ((1024, 1024), (1280, 720))
    with pytest.raises(ConfigError, match="IMAGEN_SIZES"):
        load_settings(sizes="1024*1024")
