"""PNG encoding with the render settings in text chunks, so a picture says how it was made."""

from __future__ import annotations

import dataclasses
import io

from PIL import Image, PngImagePlugin

from imagen.jobs import Job

# A try's bookkeeping, not how its picture was made. Every other field of Job goes in the PNG, so
# a setting added to Job is written without a change here.
NOT_METADATA = frozenset({"owner_id", "attempts", "max_attempts", "source_path"})


def job_metadata(job: Job, model: str) -> dict[str, str]:
    """The try's settings, ids and the model that rendered it (the renderer's: what ran)."""
    values = {f.name: getattr(job, f.name) for f in dataclasses.fields(job) if f.name not in NOT_METADATA}
    values |= {"job_id": values.pop("id"), "model": model}
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
