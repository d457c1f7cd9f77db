"""What a kind of work needs besides its settings, fetched for the renderer: every picture setting
of its kind (imagen.settings_rules, kind picture: a source picture, an edit's mask), from the same
Storage the pictures go to, named without "_path" (source_path → source, mask_path → mask)."""

from __future__ import annotations

import io
import logging

from PIL import Image

from imagen.console.settings_rules import SETTINGS_RULES, TRY_KINDS
from imagen.jobs import BadSettings, Job, Storage

log = logging.getLogger(__name__)


def picture_fields(kind: str) -> list[str]:
    """The picture settings a try of this kind is rendered from."""
    return [field for field, rule in SETTINGS_RULES.items()
            if rule["kind"] == "picture" and (rule["kinds"] is None or kind in rule["kinds"])]  # fmt: skip


def fetch_inputs(storage: Storage, job: Job) -> dict[str, Image.Image]:
    """The renderer's keyword inputs for this try: {"source": picture, "mask": picture, ...}."""
    if job.kind not in TRY_KINDS:
        raise BadSettings(f"kind {job.kind!r} is not a kind of work this worker knows")
    inputs = {}
    for field in picture_fields(job.kind):
        path = job.settings.get(field)
        if not path:
            raise BadSettings(f"a {job.kind} try needs its {field}")
        try:
            with Image.open(io.BytesIO(storage.get(path))) as picture:
                picture.load()
                inputs[field.removesuffix("_path")] = picture.copy()
        except Exception as exc:
            log.warning("%s %s of %s unreadable: %s", field, path, job.label, exc)
            raise BadSettings(f"the {field} picture of this try could not be read") from exc
    return inputs
