"""Small pictures: the thumbnail stored beside every PNG, and the shared quality search that
also makes the step previews (imagen.rendering.preview). No torch here: the worker loop imports it.

Screens show thumbnails (tiles, gallery cards); the lightbox and Download load the full PNG. A
FLUX picture of 1024² is about 1.5-2.5 MB as PNG; its thumbnail is WebP, at most THUMB_SIDE px on
its long side (a tile is about 300 CSS px wide, so sharp on a 1.5x screen), and at most
THUMB_BYTES long: a series of 10 loads in well under 1 MB.
"""

from __future__ import annotations

import io

from PIL import Image

THUMB_SIDE = 448
THUMB_BYTES = 60_000
QUALITIES = (80, 65, 50, 35, 20, 10)


def thumbnail_path(path: str) -> str:
    """Where the thumbnail of the picture stored at `path` ({job_id}.png) lives: {job_id}.webp
    beside it. The web app derives it the same way (web/src/pictures.ts)."""
    return path.removesuffix(".png") + ".webp"


def encode_small(image: Image.Image, max_side: int, max_bytes: int, format: str = "JPEG") -> bytes:
    """`image` at most max_side px on its long side, at the best quality under max_bytes."""
    scale = max_side / max(image.size)
    if scale < 1:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BILINEAR)
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    while True:
        for quality in QUALITIES:
            out = io.BytesIO()
            image.save(out, format, quality=quality)
            if out.tell() <= max_bytes:
                return out.getvalue()
        if max(image.size) <= 16:
            return out.getvalue()  # cannot happen for JPEG or WebP: a 16 px picture is well under 1 kB
        image = image.resize((max(1, image.width // 2), max(1, image.height // 2)), Image.Resampling.BILINEAR)


def encode_thumbnail(image: Image.Image) -> bytes:
    """The WebP thumbnail of a finished picture."""
    return encode_small(image, THUMB_SIDE, THUMB_BYTES, "WEBP")
