"""GPU memory modes (IMAGEN_MEMORY_MODE): where the pipeline's weights live, and which mode fits a
card. FLUX.1-schnell in bfloat16 holds 31.4 GiB of weights (transformer 22.15, T5-XXL 8.87, CLIP-L
0.23, VAE 0.16) and peaks at 33.8 GiB allocated at 1024² (bench/RESULTS.md §4): a 24 GB card
needs the text encoders off the card and the transformer's weights stored in float8.

Every mode is one of diffusers' own mechanisms: layerwise casting (weights stored in float8,
computed in the pipeline's dtype, any CUDA card or the CPU), model offload (accelerate's hooks: one
whole component on the card at a time) and group offloading (blocks or single layers streamed from
pinned host memory, on a side CUDA stream so the copy overlaps the compute). Needs no torch until a
pipeline is measured or changed: the settings check the combinations before torch is imported."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from imagen.errors import ConfigError

if TYPE_CHECKING:
    import torch

GIB = 2**30
# Activations and the allocator's slack above the resident weights, per 1024² of the largest served
# size: FLUX.1-schnell peaked 2.4 GiB allocated above its weights at 1024² on the H200 (§4), plus
# room for the caching allocator's fragmentation.
WORKING_BYTES_PER_MEGAPIXEL = 3 * GIB
# A streamed component holds a layer or two at a time: one computing, the next arriving (T5-XXL's
# largest, its embedding, is 0.25 GiB; FLUX's largest linear 0.07 GiB).
STREAMED_BYTES = 1 * GIB
# Kept free: the cuBLAS workspace, other processes' small allocations, the reading's own drift.
MARGIN_BYTES = 1 * GIB

Offload = Literal["none", "text", "model", "sequential"]
# IMAGEN_MEMORY_MODE's values: auto and the modes below (tests/test_memory_modes.py holds them equal).
MemoryModeSetting = Literal[
    "auto", "full", "text-offload", "float8-storage", "float8-text-offload", "model-offload", "sequential-offload"
]


@dataclass(frozen=True)
class MemoryMode:
    name: str
    float8: bool  # the denoiser's weights stored in float8 (lossy), computed in the pipeline's dtype
    offload: Offload  # what stays in host memory: nothing, the text encoders, everything
    compiles: bool  # may be combined with IMAGEN_COMPILE


MODES = {
    mode.name: mode
    for mode in (
        # Everything resident: the fastest, FLUX needs ~35.4 GiB free.
        MemoryMode("full", float8=False, offload="none", compiles=True),
        # The text encoders streamed layer by layer from host memory when a new prompt is encoded
        # (once a series: the tries share its embeddings); the denoiser and VAE resident. Lossless.
        MemoryMode("text-offload", float8=False, offload="text", compiles=True),
        # All resident, the denoiser's weights in float8 (diffusers keeps norms, modulation and
        # embeddings in the compute dtype: FLUX's transformer 22.15 → 14.10 GiB). Lossy. Layerwise
        # casting calls module.to() inside forward, which torch.compile cannot trace.
        MemoryMode("float8-storage", float8=True, offload="none", compiles=False),
        # Both: FLUX on a 24 GB card (~19.3 GiB free needed). Lossy.
        MemoryMode("float8-text-offload", float8=True, offload="text", compiles=False),
        # diffusers' enable_model_cpu_offload: one whole component on the card at a time; the
        # denoiser crosses PCIe every picture. Lossless, generic (SDXL on 8-12 GB cards).
        MemoryMode("model-offload", float8=False, offload="model", compiles=False),
        # Every layer streamed from pinned host memory as it runs (group offloading, leaf level):
        # a few GiB on the card, every step pays the copy. Lossless, the slowest.
        MemoryMode("sequential-offload", float8=False, offload="sequential", compiles=False),
    )
}
# What `auto` tries, fastest first. Lossless only: a lossy mode is never on by default (the quality
# gate's rule); the start line names a faster lossy mode when one would fit.
AUTO_LADDER = ("full", "text-offload", "sequential-offload")
TEXT_ENCODERS = ("text_encoder", "text_encoder_2", "text_encoder_3")


def module_bytes(module: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))


@dataclass(frozen=True)
class Footprint:
    """A pipeline's weights in bytes, by where a memory mode may put them."""

    denoiser: int
    denoiser_float8: int  # the denoiser with float8 storage
    text_encoders: int
    others: int  # the VAE and anything else

    @classmethod
    def of(cls, pipe) -> Footprint:
        import torch

        denoiser_name = "transformer" if getattr(pipe, "transformer", None) is not None else "unet"
        sizes = {n: module_bytes(m) for n, m in pipe.components.items() if isinstance(m, torch.nn.Module)}
        denoiser = getattr(pipe, denoiser_name)
        return cls(
            denoiser=sizes.pop(denoiser_name),
            denoiser_float8=float8_storage_bytes(denoiser),
            text_encoders=sum(sizes.pop(name, 0) for name in TEXT_ENCODERS),
            others=sum(sizes.values()),
        )

    def needed(self, mode: MemoryMode, pixels: int) -> int:
        """Free accelerator memory `mode` needs to render `pixels`-sized pictures."""
        denoiser = self.denoiser_float8 if mode.float8 else self.denoiser
        resident = {
            "none": denoiser + self.text_encoders + self.others,
            "text": denoiser + self.others + STREAMED_BYTES,
            "model": max(denoiser, self.text_encoders, self.others),
            "sequential": STREAMED_BYTES,
        }[mode.offload]
        return resident + WORKING_BYTES_PER_MEGAPIXEL * pixels // 2**20 + MARGIN_BYTES


def weights_on(pipe, device: str) -> int:
    """Bytes of `pipe`'s weights already on `device`'s kind of device."""
    import torch

    kind = torch.device(device).type
    return sum(
        module_bytes(m)
        for m in pipe.components.values()
        if isinstance(m, torch.nn.Module) and next(m.parameters()).device.type == kind
    )


def float8_storage_bytes(denoiser: torch.nn.Module) -> int:
    """The denoiser's size with float8 storage, measured on a weightless twin (the meta device) with
    diffusers' own choice of the layers it casts; what it leaves is counted in the denoiser's dtype."""
    import torch

    dtype = next(denoiser.parameters()).dtype
    with torch.device("meta"):
        twin = type(denoiser).from_config(denoiser.config)
    twin.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=dtype)
    return sum(
        t.numel() * (1 if t.dtype == torch.float8_e4m3fn else dtype.itemsize)
        for t in (*twin.parameters(), *twin.buffers())
    )


def allowed_modes(*, compile: bool, quantize: str) -> list[str]:
    """The modes that combine with the compile and quantize settings (check_combination's rules)."""
    return [name for name in MODES if _refusal(MODES[name], compile, quantize) is None]


def check_combination(name: str, *, compile: bool, quantize: str) -> MemoryMode:
    if name not in MODES:
        raise ConfigError(f"IMAGEN_MEMORY_MODE must be auto or one of {', '.join(MODES)}, got {name!r}")
    mode = MODES[name]
    if (why := _refusal(mode, compile, quantize)) is not None:
        raise ConfigError(f"IMAGEN_MEMORY_MODE={name} {why}")
    return mode


def _refusal(mode: MemoryMode, compile: bool, quantize: str) -> str | None:
    if compile and not mode.compiles:
        if mode.float8:
            return ("cannot be compiled (IMAGEN_COMPILE): float8 storage casts weights inside forward, which "
                    "torch.compile cannot trace; IMAGEN_QUANTIZE=float8 is the float8 path that compiles")  # fmt: skip
        return "cannot be compiled (IMAGEN_COMPILE): its weights move as it renders; turn compile off"
    if quantize != "none" and (mode.float8 or mode.offload in ("model", "sequential")):
        if mode.float8:
            return f"and IMAGEN_QUANTIZE={quantize} both store the transformer in float8: choose one"
        return (f"keeps the transformer in host memory, where IMAGEN_QUANTIZE={quantize} cannot quantize it for "
                "the card: use full or text-offload")  # fmt: skip
    return None


def choose_memory_mode(
    free_bytes: int, footprint: Footprint, pixels: int, *, compile: bool = False, quantize: str = "none"
) -> tuple[str, str]:
    """`auto`'s choice for a card with `free_bytes` free: the first mode of AUTO_LADDER (the combinable
    ones) that fits, and why, in words for the start line. ConfigError if none fits."""
    allowed = allowed_modes(compile=compile, quantize=quantize)
    ladder = [name for name in AUTO_LADDER if name in allowed]
    fits = [name for name in ladder if footprint.needed(MODES[name], pixels) <= free_bytes]
    if not fits:
        leanest = ladder[-1]
        raise ConfigError(
            f"IMAGEN_MEMORY_MODE=auto: {_gib(free_bytes)} free on the card; the leanest mode that combines "
            f"with these settings ({leanest}) needs {_gib(footprint.needed(MODES[leanest], pixels))}"
            + ("; IMAGEN_COMPILE limits the choice to full and text-offload" if compile else "")
        )
    chosen = fits[0]
    why = f"auto: {_gib(free_bytes)} free, {chosen} needs {_gib(footprint.needed(MODES[chosen], pixels))}"
    faster = [
        name for name in allowed
        if MODES[name].float8 and footprint.needed(MODES[name], pixels) <= free_bytes
        and list(MODES).index(name) < list(MODES).index(chosen)
    ]  # fmt: skip
    if chosen != "full" and faster:
        why += f"; {faster[0]} would fit and run faster, lossy: IMAGEN_MEMORY_MODE={faster[0]}"
    return chosen, why


def _gib(n: int) -> str:
    return f"{n / GIB:.1f} GiB"


def apply_memory_mode(pipe, name: str, device: str) -> None:
    """Puts `pipe`'s weights where mode `name` keeps them, rendering on `device`."""
    import torch

    mode = MODES[name]
    denoiser = pipe.transformer if getattr(pipe, "transformer", None) is not None else pipe.unet
    if mode.float8:
        compute = next(denoiser.parameters()).dtype
        denoiser.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=compute)
    target = torch.device(device)
    streams = target.type == "cuda"  # the copy overlaps the compute on a side stream
    # What is streamed starts from host memory (a pipeline built on the card, as the benchmark's, too).
    streamed = (
        TEXT_ENCODERS if mode.offload == "text" else tuple(pipe.components) if mode.offload == "sequential" else ()
    )
    for part in streamed:
        if isinstance(component := getattr(pipe, part, None), torch.nn.Module):
            component.to("cpu")
    if mode.offload == "none":
        pipe.to(device)
    elif mode.offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    else:
        # Layer by layer: "block_level" groups only a component's direct ModuleList children, and T5's
        # blocks sit one level down (encoder.block), so it would bring all 8.9 GiB of T5 at once.
        modules = [part for part, m in pipe.components.items() if isinstance(m, torch.nn.Module)]
        resident = [part for part in modules if part not in TEXT_ENCODERS] if mode.offload == "text" else []
        pipe.enable_group_offload(
            onload_device=target, offload_type="leaf_level", use_stream=streams, exclude_modules=resident
        )


def free_accelerator_bytes(device: str) -> int | None:
    """The card's free memory now (torch.cuda.mem_get_info); None on the CPU."""
    import torch

    if not device.startswith("cuda"):
        return None
    free, _total = torch.cuda.mem_get_info(torch.device(device))
    return free


def resolve_memory_mode(
    requested: str,
    pipe,
    device: str,
    sizes: Iterable[tuple[int, int]],
    *,
    compile: bool,
    quantize: str,
    free_bytes: Callable[[str], int | None] = free_accelerator_bytes,
) -> tuple[str, str]:
    """The mode to apply and why: `requested` checked against the other settings, or (auto) chosen from
    the free memory `free_bytes(device)` reads; without an accelerator auto is full (nothing to save)
    and offloading is refused (the weights already live in host memory)."""
    if requested != "auto":
        mode = check_combination(requested, compile=compile, quantize=quantize)
        if mode.offload != "none" and not device.startswith("cuda"):
            raise ConfigError(
                f"IMAGEN_MEMORY_MODE={requested} moves weights between host and card memory; on device {device} "
                "there is no card to offload from (offloading is for CUDA cards): use full (or auto)"
            )
        return requested, "set"
    free = free_bytes(device)
    if free is None:
        return "full", f"auto: no accelerator memory to save on {device}"
    free += weights_on(pipe, device)  # a pipeline built on the card (a benchmark's) holds what it would use
    pixels = max((w * h for w, h in sizes), default=1024 * 1024)
    return choose_memory_mode(free, Footprint.of(pipe), pixels, compile=compile, quantize=quantize)
