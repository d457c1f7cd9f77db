"""A contact sheet: a series' tries in a grid, labelled with index and seed, the winner marked."""

from __future__ import annotations

import io
import math

from PIL import Image, ImageDraw, ImageFont

THUMB = 256
LABEL_HEIGHT = 22
WINNER_COLOUR = (255, 196, 0)


def contact_sheet(tries: list[dict], columns: int = 5) -> Image.Image:
    """tries: dicts with series_idx, seed, status, png (bytes or None), winner (bool)."""
    columns = max(1, min(columns, len(tries)))
    rows = math.ceil(len(tries) / columns)
    sheet = Image.new("RGB", (columns * THUMB, rows * (THUMB + LABEL_HEIGHT)), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for n, t in enumerate(tries):
        x, y = (n % columns) * THUMB, (n // columns) * (THUMB + LABEL_HEIGHT)
        if t.get("png"):
            with Image.open(io.BytesIO(t["png"])) as img:
                thumb = img.convert("RGB")
                thumb.thumbnail((THUMB, THUMB))
                sheet.paste(thumb, (x + (THUMB - thumb.width) // 2, y + (THUMB - thumb.height) // 2))
        else:
            draw.text((x + 10, y + THUMB // 2), t["status"], fill=(160, 160, 160), font=font)
        label = f"#{t['series_idx']}  seed {t['seed']}" + ("  WINNER" if t.get("winner") else "")
        draw.text(
            (x + 6, y + THUMB + 4),
            label,
            fill=WINNER_COLOUR if t.get("winner") else (230, 230, 230),
            font=font,
        )
        if t.get("winner"):
            draw.rectangle([x + 1, y + 1, x + THUMB - 2, y + THUMB + LABEL_HEIGHT - 2], outline=WINNER_COLOUR, width=4)
    return sheet
