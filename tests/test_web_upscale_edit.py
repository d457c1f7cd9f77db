"""Finishing a winner in a real browser (the harness of tests/test_web_app.py: the stand-ins over
the real database, a real worker on the tiny model): a region repainted through a mask painted
with the mouse, a picture upscaled, and both children linked to their parent and back, on the
series pages and in the gallery."""

from __future__ import annotations

import io
import re

from PIL import Image, ImageChops, ImageStat
from playwright.sync_api import Page, expect
from psycopg.types.json import Jsonb

from imagen.console.users import as_user
from tests.test_web_app import (
    assert_accessible,
    new_page,
    screenshot,
    shared_stack,
    sign_up,
    site,
    stack_conn,
    wait_all_done,
)

__all__ = ["shared_stack", "site", "stack_conn"]  # the fixtures, shared with test_web_app's harness

SIZE = 256
# The block painted, in the picture's pixels: strokes from x 68 to 188 on rows 100, 108, ... 156,
# with the brush's starting size (a twentieth of the side: 13 px), so x 61..195 and y 93..163.
STROKE_X = (68, 188)
STROKE_ROWS = range(100, 157, 8)
INSIDE = (84, 112, 172, 146)  # well inside the block (left, top, right, bottom)
TIMES = "\N{MULTIPLICATION SIGN}"  # the factor's unit
MARGIN = 28  # "well outside": this far from the block at least


def download(page: Page, idx: int) -> Image.Image:
    """Try idx's picture, as its Download link saves it."""
    with page.expect_download() as saved:
        page.get_by_test_id(f"download-{idx}").click()
    with open(saved.value.path(), "rb") as file:
        return Image.open(io.BytesIO(file.read())).convert("RGB")


def paint_block(page: Page) -> None:
    """Paints the block with the mouse: one left-to-right stroke per row."""
    box = page.get_by_test_id("mask-canvas").bounding_box()
    scale = box["width"] / SIZE
    for y in STROKE_ROWS:
        page.mouse.move(box["x"] + STROKE_X[0] * scale, box["y"] + y * scale)
        page.mouse.down()
        page.mouse.move(box["x"] + STROKE_X[1] * scale, box["y"] + y * scale, steps=6)
        page.mouse.up()


def outside_boxes() -> list[tuple[int, int, int, int]]:
    """Bands of the picture at least MARGIN from the painted block (x 61..195, y 93..163)."""
    top, bottom, left, right = 93 - MARGIN, 163 + MARGIN, 61 - MARGIN, 195 + MARGIN
    return [(0, 0, SIZE, top), (0, bottom, SIZE, SIZE), (0, 0, left, SIZE), (right, 0, SIZE, SIZE)]


def test_a_region_repainted_and_an_upscale_are_children_linked_both_ways(browser, site, stack_conn):
    conn = stack_conn
    page = new_page(browser, site)
    sign_up(page, "finish@example.com")
    user = conn.execute("select id from auth.users where email = 'finish@example.com'").fetchone()[0]
    with as_user(conn, user):
        tiny = Jsonb({"model": "tiny", "width": SIZE, "height": SIZE, "steps": 2})
        made = conn.execute("select imagen.create_series('a lighthouse on a cliff', 1, %s)", (tiny,)).fetchone()[0]
    parent = made["id"]
    page.goto(f"{site.url}/#/series/{parent}")
    wait_all_done(page, 1)
    source = download(page, 1)
    masks = "select count(*) from storage.objects where name like %s"

    # Edit a region (the try's button opens the lightbox at it): the painter over the picture, the
    # prompt prefilled; nothing painted is refused here, before any upload; Esc goes back to the
    # picture, not out of the lightbox.
    page.get_by_test_id("edit-1").click()
    expect(page.get_by_test_id("edit-title")).to_be_focused()
    expect(page.get_by_label("What should be there")).to_have_value("a lighthouse on a cliff")
    page.get_by_test_id("edit-start").click()
    expect(page.get_by_test_id("edit-error")).to_contain_text("Nothing is painted")
    assert conn.execute(masks, (f"{user}/masks/%",)).fetchone()[0] == 0
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("lightbox-edit")).to_be_focused()
    expect(page.get_by_test_id("lightbox")).to_be_visible()
    page.get_by_test_id("lightbox-edit").click()
    canvas = page.get_by_test_id("mask-canvas")
    canvas.focus()  # the keyboard paints too: a dab with Space, a line with Shift+arrows
    page.keyboard.press("Space")
    page.keyboard.press("Shift+ArrowRight")
    expect(canvas).to_have_attribute("data-painted", re.compile(r"^[1-9]\d*$"))
    page.get_by_test_id("mask-clear").click()
    expect(canvas).to_have_attribute("data-painted", "0")
    paint_block(page)
    expect(canvas).to_have_attribute("data-painted", re.compile(r"^[1-9]\d*$"))
    expect(page.get_by_test_id("mask-status")).to_contain_text("% of the picture painted")
    page.get_by_test_id("mask-undo").click()  # the last stroke undone, then painted again
    paint_block(page)
    page.get_by_label("What should be there").fill("a lighthouse on a cliff, a red door")
    page.get_by_test_id("edit-n").fill("1")
    screenshot(page, "12-edit-a-region")
    assert_accessible(page, "edit a region")
    page.get_by_test_id("edit-start").click()
    page.wait_for_url(re.compile(r".*#/series/(?!" + parent + ").*"))
    edit = page.url.rsplit("/", 1)[1]
    expect(page.get_by_test_id("series-kind")).to_have_text("Edited region")
    expect(page.get_by_test_id("series-prompt")).to_have_text("a lighthouse on a cliff, a red door")
    wait_all_done(page, 1)
    edited = download(page, 1)
    assert edited.size == source.size
    for box in outside_boxes():  # well outside the mask: the source's own pixels
        assert ImageChops.difference(edited.crop(box), source.crop(box)).getbbox() is None, box
    inside = ImageStat.Stat(ImageChops.difference(edited.crop(INSIDE), source.crop(INSIDE))).mean
    assert sum(inside) / 3 > 2, inside  # inside: repainted
    assert_accessible(page, "edit series")
    expect(page.get_by_test_id("series-parent")).to_contain_text("Edited region of try 1 of")
    page.get_by_test_id("series-parent").get_by_role("link").click()
    expect(page.get_by_test_id("series-children")).to_contain_text("Edited region of try 1 (1 try)")

    # Upscale the winner: one try by default, the refine strength and the factor the rules'
    # defaults; a 256² picture may be made 2, 3 or 4 times as wide and high (at most 2048²): 3 here.
    page.get_by_test_id("open-1").click()
    page.get_by_test_id("lightbox-pick-1").click()
    expect(page.get_by_test_id("lightbox-pick-1")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_label("Refine")).to_have_value("25")
    expect(page.get_by_test_id("upscale-n")).to_have_value("1")
    factor = page.get_by_label("Factor")
    expect(factor).to_have_value("2")
    expect(factor.locator("option")).to_have_text([f"{f}{TIMES}" for f in (2, 3, 4)])
    expect(page.get_by_test_id("upscale-start")).to_have_text(f"Upscale 2{TIMES}")
    factor.select_option("3")
    expect(page.get_by_test_id("upscale-start")).to_have_text(f"Upscale 3{TIMES}")
    expect(page.get_by_test_id("upscale-title")).to_contain_text("3 times as wide and high")
    page.get_by_label("Refine").select_option("30")
    page.get_by_test_id("upscale-start").click()
    page.wait_for_url(re.compile(r".*#/series/(?!" + parent + ").*"))
    upscale = page.url.rsplit("/", 1)[1]
    expect(page.get_by_test_id("series-kind")).to_have_text("Upscale")
    expect(page.get_by_test_id("series-settings")).to_contain_text(f"factor 3 {TIMES} · refine 30 %")
    wait_all_done(page, 1)
    assert download(page, 1).size == (3 * SIZE, 3 * SIZE)
    expect(page.get_by_test_id("series-parent")).to_contain_text("Upscale of try 1 of")
    page.get_by_test_id("open-1").click()  # 768²: only twice as wide and high stays within 2048²
    expect(page.get_by_label("Factor").locator("option")).to_have_text([f"2{TIMES}"])
    expect(page.get_by_test_id("upscale-start")).to_have_text(f"Upscale 2{TIMES}")
    page.keyboard.press("Escape")

    # The gallery: each child's card says its kind and links to its parent; the parent's to both.
    page.goto(f"{site.url}/#/")
    card = lambda series: page.locator(f'[data-testid="series-card"][data-series-id="{series}"]')  # noqa: E731
    expect(card(upscale).get_by_test_id("series-card-kind")).to_have_text("Upscale")
    expect(card(edit).get_by_test_id("series-card-kind")).to_have_text("Edited region")
    expect(card(parent).get_by_test_id("series-card-kind")).to_be_hidden()
    children = card(parent).get_by_test_id("series-card-child")
    expect(children).to_have_count(2)
    expect(children).to_have_text(["Edited region of try 1", "Upscale of try 1"])
    screenshot(page, "13-gallery-lineage")
    assert_accessible(page, "gallery with lineage")
    card(upscale).get_by_test_id("series-card-parent").click()
    page.wait_for_url(f"**/#/series/{parent}")
    page.go_back()
    card(parent).get_by_role("link", name="Upscale of try 1").click()
    page.wait_for_url(f"**/#/series/{upscale}")
