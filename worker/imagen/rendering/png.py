"""PNG encoding with the render settings in text chunks, so a picture says how it was made."""

from __future__ import annotations

import io
import json

from PIL import Image, PngImagePlugin

from imagen.jobs import Job


def job_metadata(job: Job, model: str, image: Image.Image | None = None) -> dict[str, str]:
    """The try's ids, its kind, its settings whole (imagen:settings, JSON) and each setting on its
    own (imagen:<field>, for tools that read one chunk), the pipeline that rendered it, and what
    the renderer noted on the picture (its info's imagen:* keys: an upscale's tiles). A new
    setting is written without a change here."""
    values = {"job_id": job.id, "series_id": job.series_id, "series_idx": job.series_idx, "kind": job.kind}
    values |= dict(job.settings)
    values |= {"settings": json.dumps(dict(job.settings), sort_keys=True, ensure_ascii=False), "pipeline": model}
    noted = {k: str(v) for k, v in (image.info if image is not None else {}).items() if k.startswith("imagen:")}
    return {f"imagen:{k}": str(v) for k, v in values.items() if v is not None} | noted


def encode_png(image: Image.Image, metadata: dict[str, str]) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in metadata.items():
        info.add_itxt(key, value)  # iTXt: UTF-8, so any prompt survives
    out = io.BytesIO()
    # Level 1: a few % larger than the default, several times faster to encode.
    image.save(out, format="PNG", pnginfo=info, compress_level=1)
    return out.getvalue()


def read_metadata(data: bytes) -> dict[str, str]:
    with Image.open(io.BytesIO(data)) as img:
        return {k.removeprefix("imagen:"): v for k, v in img.text.items() if k.startswith("imagen:")}
