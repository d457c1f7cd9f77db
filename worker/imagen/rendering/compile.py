"""Compiling the denoiser (torch.compile, Inductor's cache kept across restarts) and the warm-up
that compiles every served size before the first try, so no user's try waits on a compile."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

import torch

from imagen.config import ConfigError
from imagen.jobs import BadSettings, Job

log = logging.getLogger(__name__)

# The warm-up's renders: every compiled graph is reached by two steps (the step count is no guard).
WARM_UP_PROMPT = "warm-up"
WARM_UP_STEPS = 2


def use_compile_cache(folder: Path | str | None) -> str:
    """Points Inductor's cache (FX graphs, AOTAutograd entries, kernels, autotuning results) at
    `folder`, before anything is compiled; None keeps torch's own. Returns the folder in use."""
    if folder is not None:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(Path(folder).expanduser().resolve())
    from torch._inductor.runtime.cache_dir_utils import cache_dir

    return cache_dir()


def compile_denoiser(pipe, denoiser, scope: str, dynamic: bool, mode: str | None, vae: bool,
                     cache_dir: Path | str | None) -> str:  # fmt: skip
    """torch.compile in place (the module keeps its class, which the pipeline looks at): the
    denoiser's repeated blocks (scope "blocks") or all of it, one graph a size (dynamic False) or
    one dynamic-shape graph, with torch.compile's `mode`; with `vae`, the VAE's decoder too,
    channels-last. Returns the compile cache's folder."""
    cache = use_compile_cache(cache_dir)
    options = {"dynamic": dynamic, "mode": mode}
    if scope == "blocks" and getattr(denoiser, "_repeated_blocks", None):
        denoiser.compile_repeated_blocks(fullgraph=True, **options)
    else:
        denoiser.compile(**options)
    if vae:
        pipe.vae.to(memory_format=torch.channels_last)
        pipe.vae.decoder.compile(**options)
    return cache


def warm_up(renderer, sizes: Iterable[tuple[int, int]]) -> float | None:
    """With compile on, renders each (width, height) once, so that every graph a served size
    needs is compiled (or read from the compile cache) before the first try; logs how long it
    took and returns the seconds. Without compile there is nothing to warm: None."""
    sizes = list(dict.fromkeys((int(w), int(h)) for w, h in sizes))
    for width, height in sizes:
        try:
            renderer.check_size(width, height)
        except BadSettings as exc:
            raise ConfigError(f"IMAGEN_SIZES: {width}x{height}: {exc}") from None
    if not renderer.compiled or not sizes:
        return None
    import torch._dynamo

    # One graph a size (and a block kind): keep them all, not only the last `recompile_limit`.
    limit = torch._dynamo.config.recompile_limit
    torch._dynamo.config.recompile_limit = max(limit, 4 * len(sizes) + 4)
    started = time.perf_counter()
    log.info("warm-up: compiling %d sizes (cache %s)", len(sizes), renderer.compile_cache)
    seconds = []
    for width, height in sizes:
        begun = time.perf_counter()
        nothing = uuid.UUID(int=0)
        renderer.render(
            Job.build(
                id=nothing,
                owner_id=nothing,
                prompt=WARM_UP_PROMPT,
                model=renderer.model,
                width=width,
                height=height,
                steps=WARM_UP_STEPS,
                seed=0,
            )
        )
        seconds.append(f"{width}x{height} {time.perf_counter() - begun:.1f} s")
    total = time.perf_counter() - started
    log.info("warm-up done: %d sizes in %.1f s (%s)", len(sizes), total, ", ".join(seconds))
    return total
