"""Small in-progress pictures from the latents of a denoising step, without the VAE.

Each latent channel is mixed into RGB by a fixed linear map, the one ComfyUI publishes for its
fast "latent2rgb" previews (comfy/latent_formats.py: latent_rgb_factors, latent_rgb_factors_bias),
then ((rgb + 1) / 2) is clamped to 0..1 as ComfyUI's previewer does. The latent grid is already
8x smaller than the picture, so a 1024 px FLUX picture gives a 128 px preview; it is downscaled to
at most MAX_SIDE on its long side and encoded as JPEG, lowering the quality until it fits MAX_BYTES.

Only the diffusers renderer uses this, so torch is imported here and nowhere in the worker loop.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from PIL import Image

from imagen.rendering import thumbnail

MAX_SIDE = 256
MAX_BYTES = 10_000

# ComfyUI comfy/latent_formats.py, class Flux (16 channels; rows are channels, columns R, G, B).
FLUX_RGB_FACTORS = (
    (-0.0346, 0.0244, 0.0681),
    (0.0034, 0.0210, 0.0687),
    (0.0275, -0.0668, -0.0433),
    (-0.0174, 0.0160, 0.0617),
    (0.0859, 0.0721, 0.0329),
    (0.0004, 0.0383, 0.0115),
    (0.0405, 0.0861, 0.0915),
    (-0.0236, -0.0185, -0.0259),
    (-0.0245, 0.0250, 0.1180),
    (0.1008, 0.0755, -0.0421),
    (-0.0515, 0.0201, 0.0011),
    (0.0428, -0.0012, -0.0036),
    (0.0817, 0.0765, 0.0749),
    (-0.1264, -0.0522, -0.1103),
    (-0.0280, -0.0881, -0.0499),
    (-0.1262, -0.0982, -0.0778),
)
FLUX_RGB_BIAS = (-0.0329, -0.0718, -0.0851)

# ComfyUI comfy/latent_formats.py, class SDXL (4 channels).
SDXL_RGB_FACTORS = (
    (0.3651, 0.4232, 0.4341),
    (-0.2533, -0.0042, 0.1068),
    (0.1076, 0.1111, -0.0362),
    (-0.3165, -0.2492, -0.2188),
)
SDXL_RGB_BIAS = (0.1084, -0.0175, -0.0011)

FACTORS = {16: (FLUX_RGB_FACTORS, FLUX_RGB_BIAS), 4: (SDXL_RGB_FACTORS, SDXL_RGB_BIAS)}


def unpack_flux_latents(latents: torch.Tensor, height: int, width: int, vae_scale_factor: int = 8) -> torch.Tensor:
    """(batch, (h/2)*(w/2), 64) packed FLUX latents → (batch, 16, h, w), h = height / 8, as
    diffusers' FluxPipeline._unpack_latents does (each token is a 2x2 patch of 16 channels)."""
    batch, tokens, packed = latents.shape
    channels = packed // 4
    h, w = 2 * (height // (vae_scale_factor * 2)), 2 * (width // (vae_scale_factor * 2))
    if tokens != (h // 2) * (w // 2):
        raise ValueError(f"{tokens} latent tokens do not make a {width}x{height} picture")
    x = latents.view(batch, h // 2, w // 2, channels, 2, 2)
    x = x.permute(0, 3, 1, 4, 2, 5)
    return x.reshape(batch, channels, h, w)


_weights: dict = {}


def _factors(channels: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    key = (channels, str(device))
    if key not in _weights:
        factors, bias = FACTORS[channels]
        _weights[key] = (torch.tensor(factors, device=device), torch.tensor(bias, device=device))
    return _weights[key]


def latent_rgb(latents: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The first latent of the batch as an (h, w, 3) uint8 tensor on the latents' own device.

    Packed FLUX latents (batch, tokens, 64) are mapped token by token before the 2x2 patches are
    laid out, so only the 3-channel result is rearranged; (batch, C, h, w) latents directly."""
    if latents.ndim == 3:
        _batch, tokens, packed = latents.shape
        channels = packed // 4
        h, w = 2 * (height // 16), 2 * (width // 16)
        if tokens != (h // 2) * (w // 2):
            raise ValueError(f"{tokens} latent tokens do not make a {width}x{height} picture")
        # Each token is (channel, dy, dx) channel-major: one row per latent pixel of the patch.
        x = latents[0].view(tokens, channels, 4).transpose(1, 2).reshape(-1, channels)
    elif latents.ndim == 4:
        channels, h, w = latents.shape[1:]
        x = latents[0].permute(1, 2, 0).reshape(-1, channels)
    else:
        raise ValueError(f"latents of shape {tuple(latents.shape)}: want (batch, tokens, 64) or (batch, C, h, w)")
    if channels not in FACTORS:
        raise ValueError(f"{channels} latent channels: previews know 16 (FLUX) and 4 (SDXL)")
    weight, bias = _factors(channels, latents.device)
    with torch.no_grad():
        rgb = torch.addmm(bias, x.to(torch.float32), weight)
        if latents.ndim == 3:
            rgb = rgb.view(h // 2, w // 2, 2, 2, 3).permute(0, 2, 1, 3, 4)
        rgb = rgb.reshape(h, w, 3)
        # ComfyUI's preview_to_image: ((rgb + 1) / 2).clamp(0, 1) * 255.
        return rgb.add(1).mul_(127.5).clamp_(0, 255).round_().to(torch.uint8)


def latents_to_rgb(latents: torch.Tensor, height: int = 0, width: int = 0) -> Image.Image:
    """latent_rgb as a PIL picture (height and width of the picture: needed for packed FLUX)."""
    return Image.fromarray(latent_rgb(latents, height, width).cpu().numpy(), "RGB")


def encode_small(image: Image.Image, max_side: int = MAX_SIDE, max_bytes: int = MAX_BYTES) -> bytes:
    """JPEG of `image` at most max_side px on its long side, at the best quality under max_bytes."""
    return thumbnail.encode_small(image, max_side, max_bytes, "JPEG")


def start_preview(latents: torch.Tensor, height: int, width: int) -> Callable[[], bytes]:
    """Starts a preview without making the render thread wait for the device: the latent→RGB map
    is queued where the latents are and its small result (49 kB for 1024²) copied to pinned host
    memory asynchronously. Calling the result waits for that copy and encodes the JPEG, on the
    caller's thread: the progress sender's, and only for the previews it actually sends."""
    rgb = latent_rgb(latents, height, width)
    copied = None
    if rgb.device.type == "cuda":
        rgb = rgb.to("cpu", non_blocking=True)  # into pinned memory: the copy does not block
        copied = torch.cuda.Event()
        copied.record()

    def jpeg() -> bytes:
        if copied is not None:
            copied.synchronize()
        return encode_small(Image.fromarray(rgb.numpy(), "RGB"))

    return jpeg


def preview_jpeg(
    latents: torch.Tensor, height: int, width: int, max_side: int = MAX_SIDE, max_bytes: int = MAX_BYTES
) -> bytes:
    """The step's latents as diffusers hands them to callback_on_step_end (packed (batch, tokens,
    64) for FLUX, (batch, 4, h, w) for SDXL) → JPEG bytes of a preview of the width x height
    picture, at most max_side px on its long side and max_bytes long."""
    return encode_small(latents_to_rgb(latents, height, width), max_side, max_bytes)
