"""Edit: the region a mask paints white repainted from the try's prompt by the resident model's
inpainting pipeline (diffusers' FluxInpaintPipeline, from_pipe), and the rest of the picture kept
as it was: the result is pasted over the source through the mask, widened and softened a little
so the seam does not show. A pixel well outside the mask is the source's own."""

from __future__ import annotations

from PIL import Image, ImageChops, ImageFilter

from imagen.jobs import BadSettings, Job
from imagen.rendering.calls import at_try_size, image_to_image_call, to_picture

# How far the repainted region reaches past the painted one, in px (its softened edge another half
# of it): the seam falls on repainted pixels. Pixels further than 1.5 x FEATHER are the source's.
FEATHER = 8


def checked_mask(mask: Image.Image, job: Job) -> Image.Image:
    """The mask as 8-bit grey, refused (with what is wrong) unless it is of the picture's size and
    paints something: the database checked what the upload said of it, this is the PNG itself."""
    if mask.size != (job.width, job.height):
        raise BadSettings(f"mask_path is {mask.width}x{mask.height}, the picture {job.width}x{job.height}")
    grey = mask.convert("L")
    if grey.getextrema()[1] < 128:
        raise BadSettings("mask_path is empty: paint the region to repaint")
    return grey.point(lambda value: 255 if value >= 128 else 0)


def paste_region(source: Image.Image, drawn: Image.Image, mask: Image.Image) -> Image.Image:
    """`drawn` where the mask (widened by FEATHER, its edge softened) is, `source` elsewhere."""
    widened = mask.filter(ImageFilter.BoxBlur(FEATHER)).point(lambda value: 255 if value else 0)  # O(pixels)
    reach = widened.filter(ImageFilter.BoxBlur(FEATHER // 2))
    return Image.composite(drawn, source, ImageChops.lighter(reach, mask))


def render_edit(renderer, job: Job, on_step, source: Image.Image, mask: Image.Image) -> Image.Image:
    mask = checked_mask(mask, job)
    source = at_try_size(source, job)
    # At the try's size, whatever the model (image_to_image_call names it for FLUX only).
    call = image_to_image_call(source, 1.0, job.steps, renderer.is_flux) | {"mask_image": mask, "width": job.width,
                                                                           "height": job.height}  # fmt: skip
    drawn = to_picture(renderer.run(renderer.derived("inpainting"), call, job, on_step))
    return paste_region(source, drawn, mask)
