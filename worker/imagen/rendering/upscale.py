"""Upscale: a picture enlarged to the try's size (factor times, Lanczos) and re-drawn tile by tile
by the resident model's image-to-image pipeline at the try's `refine` strength, so details are
drawn again, not stretched. Tiles overlap and are blended with linear ramps (the tiled upscale of
MultiDiffusion and Ultimate SD Upscale, in pixel space): memory stays that of one tile, and time
grows with the area, where one big render's attention grows with its square.

The tile is the largest size the worker serves (IMAGEN_SIZES, 1024² by default: FLUX's native
size, the one compile warms, so tiles reuse its graph). Neighbours overlap by at least an eighth
of a tile (128 px at 1024): enough for a ramp to hide the seam, little enough that a 2048² picture
takes 3 x 3 tiles."""

from __future__ import annotations

import itertools
import math

import torch
from PIL import Image

from imagen.jobs import Job
from imagen.rendering.calls import at_try_size, image_to_image_call, to_picture


def axis_starts(length: int, tile: int, overlap: int, multiple: int) -> list[int]:
    """Where tiles of `tile` px start along a side of `length` px (both multiples of `multiple`):
    evenly spread from 0 to length - tile, neighbours overlapping by at least `overlap`."""
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    while True:
        starts = [round(i * (length - tile) / (count - 1) / multiple) * multiple for i in range(count)]
        if all(tile - (b - a) >= overlap for a, b in itertools.pairwise(starts)):
            return starts
        count += 1


def tile_size(renderer, width: int, height: int) -> tuple[int, int]:
    """The tile: the largest served square side, within the picture and a multiple of its grid."""
    side = max(min(w, h) for w, h in renderer.sizes)
    side -= side % renderer.size_multiple
    return min(side, width), min(side, height)


def tile_overlap(tile: tuple[int, int]) -> int:
    """How far neighbouring tiles overlap at least: an eighth of a tile, room for the blend's ramp."""
    return max(tile) // 8


def tile_boxes(width: int, height: int, tile: tuple[int, int], multiple: int) -> list[tuple[int, int, int, int]]:
    """(left, top, right, bottom) of every tile, row by row, overlapping by tile_overlap."""
    (tw, th), overlap = tile, tile_overlap(tile)
    return [(x, y, x + tw, y + th)
            for y in axis_starts(height, th, overlap, multiple)
            for x in axis_starts(width, tw, overlap, multiple)]  # fmt: skip


def ramp(size: int, before: bool, after: bool, overlap: int) -> torch.Tensor:
    """A side's blend weights: rising over `overlap` px where a neighbour comes before, falling
    where one comes after, 1 elsewhere (and never 0, so every pixel has a weight)."""
    weights = torch.ones(size)
    rise = torch.arange(1, overlap + 1, dtype=torch.float32) / (overlap + 1)
    if before:
        weights[:overlap] = torch.minimum(weights[:overlap], rise)
    if after:
        weights[-overlap:] = torch.minimum(weights[-overlap:], rise.flip(0))
    return weights


def tile_weights(box, width: int, height: int, overlap: int) -> torch.Tensor:
    left, top, right, bottom = box
    across = ramp(right - left, left > 0, right < width, overlap)
    down = ramp(bottom - top, top > 0, bottom < height, overlap)
    return down[:, None] * across[None, :]


def render_upscale(renderer, job: Job, on_step, source: Image.Image) -> Image.Image:
    """The source at the try's size, every tile re-drawn `refine` % (its own seed: seed + tile
    index) and blended. A step counts over all tiles: progress reaches the try's steps at the last
    tile's last step. The picture's info records the tiles (the PNG's imagen:tiles)."""
    enlarged = at_try_size(source, job)
    tile = tile_size(renderer, job.width, job.height)
    boxes = tile_boxes(job.width, job.height, tile, renderer.size_multiple)
    overlap, strength = tile_overlap(tile), job.settings["refine"] / 100
    canvas = torch.zeros(3, job.height, job.width)
    weights = torch.zeros(1, job.height, job.width)
    total = len(boxes) * job.steps
    pipe = renderer.derived("image-to-image")
    for index, box in enumerate(boxes):
        call = image_to_image_call(enlarged.crop(box), strength, job.steps, renderer.is_flux)
        drawn = renderer.run(pipe, call, job, on_step, seed=(job.seed + index) % 2**32,
                             step_of=lambda step, done=index * job.steps: (done + step) * job.steps // total,
                             size=(tile[1], tile[0])).float().cpu()  # fmt: skip
        weight = tile_weights(box, job.width, job.height, overlap)
        left, top, right, bottom = box
        canvas[:, top:bottom, left:right] += drawn * weight
        weights[:, top:bottom, left:right] += weight
    picture = to_picture(canvas.div_(weights))
    columns, rows = len({box[0] for box in boxes}), len({box[1] for box in boxes})
    picture.info["imagen:tiles"] = f"{columns}x{rows} tiles of {tile[0]}x{tile[1]} px, overlap {overlap} px"
    return picture
