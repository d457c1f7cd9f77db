"""PNG encoding with the render settings in text chunks, so a picture says how it was made."""

from __future__ import annotations

import io

from PIL import Image, PngImagePlugin

from imagen.jobs import Job


def job_metadata(job: Job, model: str) -> dict[str, str]:
    values = {
        "prompt": job.prompt,
        "style": job.style,
        "seed": job.seed,
        "steps": job.steps,
        "width": job.width,
        "height": job.height,
        "model": model,
        "series_id": job.series_id,
        "series_idx": job.series_idx,
        "job_id": job.id,
        "strength": job.strength,
    }
    return {f"imagen:{k}": str(v) for k, v in values.items() if v is not None}


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
