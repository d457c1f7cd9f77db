"""Child series made from a finished try's picture, as its owner: variations (imagen vary), an
upscale (imagen upscale) or an edit of a region (imagen edit --mask FILE). The mask is checked
here first, so a wrong one is refused before anything is uploaded, then stored where the web app
puts it (<owner>/masks/) with what Storage records of an upload, and checked again by the database."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import psycopg
from PIL import Image, UnidentifiedImageError
from psycopg.types.json import Jsonb

from imagen.config import ConfigError
from imagen.console.series import finished_try, queue_as, rpc_call
from imagen.console.settings_rules import SETTINGS_RULES
from imagen.jobs import Storage

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MASK_BUCKET = "imagen"  # where imagen_private.mask_problem looks, whatever a local Storage calls itself


def from_picture(conn: psycopg.Connection, kind: str, series_id: str, index: int, n: int | None,
                 settings: dict) -> dict:  # fmt: skip
    """imagen.create_from_image(kind) on try `index` of the series, as its owner."""
    return queue_child(conn, *finished_try(conn, series_id, index), kind, n, settings)


def queue_child(conn: psycopg.Connection, owner: uuid.UUID, image_id: uuid.UUID, kind: str, n: int | None,
                settings: dict) -> dict:  # fmt: skip
    """imagen.create_from_image(kind) on the picture, as its owner (a setting that is None is left out)."""
    given = {k: v for k, v in settings.items() if v is not None}
    first = {"image_id": image_id, "kind": kind}
    return queue_as(conn, owner, *rpc_call("create_from_image", first, {"n": n, "settings": Jsonb(given)}))


def vary_try(conn: psycopg.Connection, series_id: str, index: int, n: int | None, strength: int | None,
             seed: int | None) -> dict:  # fmt: skip
    """A child series of n variations of try `index`'s picture."""
    return from_picture(conn, "vary", series_id, index, n, {"strength": strength, "seed": seed})


def mask_facts(data: bytes, size: tuple[int, int], name: str) -> dict:
    """What the upload says of a mask (its size and painted pixels), or ConfigError naming what is
    wrong: not a PNG, over the byte limit, of another size than the picture, nothing painted."""
    limit = int(SETTINGS_RULES["mask_path"]["max_value"])
    if not data.startswith(PNG_SIGNATURE):
        raise ConfigError(f"--mask {name}: not a PNG")
    if len(data) > limit:
        raise ConfigError(f"--mask {name}: {len(data)} bytes, at most {limit}")
    try:
        with Image.open(io.BytesIO(data)) as mask:
            grey = mask.convert("L")
    except (UnidentifiedImageError, OSError) as exc:
        raise ConfigError(f"--mask {name}: not a readable PNG ({exc})") from None
    if grey.size != size:
        raise ConfigError(f"--mask {name}: {grey.width}x{grey.height}, the picture is {size[0]}x{size[1]}")
    painted = sum(grey.point(lambda value: 1 if value >= 128 else 0).histogram()[1:])
    if not painted:
        raise ConfigError(f"--mask {name}: nothing painted (white marks the region to repaint)")
    return {"width": grey.width, "height": grey.height, "painted": painted}


def upload_mask(conn: psycopg.Connection, storage: Storage, owner: uuid.UUID, data: bytes, facts: dict) -> str:
    """Stores the mask at <owner>/masks/<uuid>.png and records it as Storage does an upload
    (metadata: size, mimetype; user_metadata: what the uploader said of it)."""
    path = f"{owner}/masks/{uuid.uuid4()}.png"
    storage.put(path, data)
    conn.execute(
        "insert into storage.objects (bucket_id, name, owner, owner_id, metadata, user_metadata)"
        " values (%s, %s, %s, %s, %s, %s) on conflict (bucket_id, name) do update"
        " set metadata = excluded.metadata, user_metadata = excluded.user_metadata",
        (MASK_BUCKET, path, owner, str(owner), Jsonb({"size": len(data), "mimetype": "image/png"}), Jsonb(facts)),
    )
    conn.commit()
    return path


def edit_try(conn: psycopg.Connection, storage: Storage, series_id: str, index: int, mask_file: Path,
             n: int | None, prompt: str | None, seed: int | None) -> dict:  # fmt: skip
    """An edit of try `index`'s picture where `mask_file` is white."""
    owner, image_id = finished_try(conn, series_id, index)
    width, height = conn.execute(
        "select (j.settings->>'width')::int, (j.settings->>'height')::int"
        " from imagen.images i join imagen.jobs j on j.id = i.job_id where i.id = %s",
        (image_id,),
    ).fetchone()
    try:
        data = mask_file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"--mask {mask_file}: {exc.strerror}") from None
    path = upload_mask(conn, storage, owner, data, mask_facts(data, (width, height), str(mask_file)))
    return queue_child(conn, owner, image_id, "edit", n, {"mask_path": path, "prompt": prompt, "seed": seed})
