"""What every kind of work shares in its pipeline call: the model's own options, the steps an
image-to-image call needs, and the picture a call returns."""

from __future__ import annotations

import torch
from PIL import Image

from imagen.jobs import Job

# FLUX.1-schnell is distilled for few steps without guidance; 256 tokens is its prompt limit.
FLUX_CALL_DEFAULTS = {"guidance_scale": 0.0, "max_sequence_length": 256}


def model_options(job: Job, flux: bool) -> dict:
    """The model's own call options (FLUX.1-schnell's), with the try's guidance over them when it has one."""
    guidance = {"guidance_scale": float(job.settings["guidance"])} if "guidance" in job.settings else {}
    return (FLUX_CALL_DEFAULTS if flux else {}) | guidance


def from_resident(pipe, task: str):
    """The "image-to-image" or "inpainting" pipeline over `pipe`'s components (diffusers'
    from_pipe: the same transformer, VAE and text encoders, compiled or quantized as they are;
    nothing is loaded again)."""
    import diffusers

    auto = {"image-to-image": diffusers.AutoPipelineForImage2Image,
            "inpainting": diffusers.AutoPipelineForInpainting}[task]  # fmt: skip
    derived = auto.from_pipe(pipe)
    derived.set_progress_bar_config(disable=True)
    return derived


def at_try_size(picture: Image.Image, job: Job) -> Image.Image:
    """A picture a try is made from, in RGB at the try's size (Lanczos)."""
    return picture.convert("RGB").resize((job.width, job.height), Image.Resampling.LANCZOS)


def image_to_image_call(picture: Image.Image, strength: float, steps: int, flux: bool) -> dict:
    """An image-to-image call that re-draws `strength` of `picture` in `steps` steps, at its size."""
    call = {"image": picture, "strength": strength,
            "num_inference_steps": image_to_image_steps(steps, strength, flux)}  # fmt: skip
    if flux:  # FLUX's image-to-image renders at its default size unless told
        call |= {"width": picture.width, "height": picture.height}
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
