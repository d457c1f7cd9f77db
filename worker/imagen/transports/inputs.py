"""What a kind of work needs besides its settings, fetched for the renderer: a variation's source
picture, from the same Storage the pictures go to. The kinds and what they need are the
database's (imagen.try_kinds, generated into imagen.console.settings_rules)."""

from __future__ import annotations

import io
import logging

from PIL import Image

from imagen.console.settings_rules import TRY_KINDS
from imagen.jobs import BadSettings, Job, Storage

log = logging.getLogger(__name__)


def fetch_inputs(storage: Storage, job: Job) -> dict[str, Image.Image]:
    """The renderer's keyword inputs for this try: {"source": picture} for a kind with a source."""
    kind = TRY_KINDS.get(job.kind)
    if kind is None:
        raise BadSettings(f"kind {job.kind!r} is not a kind of work this worker knows")
    if not kind["needs_source"]:
        return {}
    if not job.source_path:
        raise BadSettings(f"a {job.kind} try needs the picture it is made from")
    try:
        with Image.open(io.BytesIO(storage.get(job.source_path))) as picture:
            return {"source": picture.convert("RGB")}
    except Exception as exc:
        log.warning("source picture %s of %s unreadable: %s", job.source_path, job.label, exc)
        raise BadSettings("the picture this try is made from could not be read") from exc
