"""The mask painter takes a finger and a pen as it takes the mouse (Pointer Events), driven through
Chromium's own input pipeline (DevTools' Input domain: touch points and pen-type pointer events, as
a touch screen and a stylus deliver them)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from psycopg.types.json import Jsonb

from imagen.console.users import as_user
from tests.test_web_app import new_page, shared_stack, sign_up, site, stack_conn, wait_all_done

__all__ = ["shared_stack", "site", "stack_conn"]  # the fixtures, shared with test_web_app's harness

SIZE = 256
# Each pointerdown on the canvas, by pointer type: what reached the painter, not what was sent.
RECORD_POINTER_TYPES = """() => {
  window.pointerTypes = [];
  document.querySelector('[data-testid=mask-canvas]')
    .addEventListener('pointerdown', (event) => window.pointerTypes.push(event.pointerType));
}"""


def stroke_points(page: Page) -> list[tuple[float, float]]:
    """A diagonal stroke across the canvas, in the viewport's coordinates."""
    box = page.get_by_test_id("mask-canvas").bounding_box()
    return [(box["x"] + box["width"] * (0.3 + 0.05 * i), box["y"] + box["height"] * (0.7 - 0.05 * i)) for i in range(9)]


def touch_stroke(cdp, points: list[tuple[float, float]]) -> None:
    (x, y), rest = points[0], points[1:]
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for x, y in rest:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def pen_stroke(cdp, points: list[tuple[float, float]]) -> None:
    pen = {"pointerType": "pen", "button": "left"}
    (x, y), rest = points[0], points[1:]
    cdp.send("Input.dispatchMouseEvent", {"type": "mousePressed", "x": x, "y": y, "clickCount": 1, **pen})
    for x, y in rest:
        cdp.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y, "buttons": 1, **pen})
    x, y = points[-1]
    cdp.send("Input.dispatchMouseEvent", {"type": "mouseReleased", "x": x, "y": y, "clickCount": 1, **pen})


def test_a_finger_and_a_pen_paint_the_mask(browser, site, stack_conn):
    conn = stack_conn
    page = new_page(browser, site, width=390)  # a phone's width: where fingers paint
    sign_up(page, "touch@example.com")
    user = conn.execute("select id from auth.users where email = 'touch@example.com'").fetchone()[0]
    with as_user(conn, user):
        tiny = Jsonb({"model": "tiny", "width": SIZE, "height": SIZE, "steps": 2})
        made = conn.execute("select imagen.create_series('a kite over dunes', 1, %s)", (tiny,)).fetchone()[0]
    page.goto(f"{site.url}/#/series/{made['id']}")
    wait_all_done(page, 1)
    page.get_by_test_id("edit-1").click()
    canvas = page.get_by_test_id("mask-canvas")
    canvas.scroll_into_view_if_needed()
    expect(canvas).to_have_attribute("data-painted", "0")
    page.evaluate(RECORD_POINTER_TYPES)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 1})

    touch_stroke(cdp, stroke_points(page))
    expect(canvas).to_have_attribute("data-painted", re.compile(r"^[1-9]\d*$"))
    page.get_by_test_id("mask-clear").click()
    expect(canvas).to_have_attribute("data-painted", "0")

    pen_stroke(cdp, stroke_points(page))
    expect(canvas).to_have_attribute("data-painted", re.compile(r"^[1-9]\d*$"))
    assert page.evaluate("window.pointerTypes") == ["touch", "pen"]
    page.context.close()
