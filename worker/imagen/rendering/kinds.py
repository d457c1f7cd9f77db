"""What a try of each kind of work (imagen.try_kinds) renders over the resident model. A renderer
picks the function by the try's kind; a kind made from pictures gets them as keyword inputs
(source, mask: imagen.transports.inputs fetches every picture setting of the kind). A new kind is
a function here, or in a module of its own named in KINDS."""

from __future__ import annotations

from PIL import Image

from imagen.jobs import Job
from imagen.rendering.calls import at_try_size, image_to_image_call, to_picture
from imagen.rendering.edit import render_edit
from imagen.rendering.upscale import render_upscale


def generate(renderer, job: Job, on_step) -> Image.Image:
    """A new picture from the prompt."""
    call = {"width": job.width, "height": job.height, "num_inference_steps": job.steps}
    return to_picture(renderer.run(renderer.pipe, call, job, on_step))


def vary(renderer, job: Job, on_step, source: Image.Image) -> Image.Image:
    """A variation: the source at the try's size, `strength` % of it re-drawn (image-to-image)."""
    call = image_to_image_call(at_try_size(source, job), job.settings["strength"] / 100, job.steps, renderer.is_flux)
    return to_picture(renderer.run(renderer.derived("image-to-image"), call, job, on_step))


KINDS = {"generate": generate, "vary": vary, "upscale": render_upscale, "edit": render_edit}
