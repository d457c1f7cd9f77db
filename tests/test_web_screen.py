"""The series screen as a picture tool, in real Chromium at a laptop's 1280x800 and a phone's
390x844: the first tile is in view the moment a series starts, the tiles fill the screen, each
picture carries its own actions, the lightbox's controls are inside the viewport, number keys act on
the picture shown, a winner can be un-picked, and a series of 10 weighs under 1 MB. The screenshots
of docs/img (shown in the README) are taken here: IMAGEN_UPDATE_SCREENSHOTS=1 writes them there."""

from __future__ import annotations

import os
import re
import urllib.request

import psycopg
from playwright.sync_api import Locator, Page, expect
from psycopg.types.json import Jsonb

from imagen.console.users import as_user
from tests.database import REPO_ROOT
from tests.test_web_app import (  # noqa: F401
    ARTIFACTS,
    RENDER_WAIT_MS,
    assert_accessible,
    screenshot,
    shared_stack,
    sign_up,
    wait_all_done,
)
from tests.workers import wait_until

DOCS_IMG = REPO_ROOT / "docs" / "img"
SIZES = {"laptop": (1280, 800), "phone": (390, 844)}


def sized_page(browser, site, size: str) -> Page:
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(site.url)
    return page


def in_view(page: Page, testid: str | Locator) -> bool:
    """Whether the element is shown and its whole box lies inside the viewport (no scrolling needed)."""
    element = page.get_by_test_id(testid) if isinstance(testid, str) else testid
    expect(element).to_be_visible()
    box = element.bounding_box()
    view = page.viewport_size
    inside = box is not None and box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= view["width"] + 0.5 \
        and box["y"] + box["height"] <= view["height"] + 0.5  # fmt: skip
    if not inside:
        print(f"{testid}: {box} outside {view}")
    return inside


def start_small_series(page: Page, prompt: str, n: int) -> str:
    page.get_by_test_id("nav-new").click()
    page.get_by_label("Prompt").fill(prompt)
    page.get_by_label("Tries").fill(str(n))
    page.get_by_label("Width").fill("256")
    page.get_by_label("Height").fill("256")
    page.get_by_label("Steps").fill("2")
    page.get_by_test_id("create-series").click()
    page.wait_for_url("**/#/series/*")
    return page.url.rsplit("/", 1)[1]


def columns(page: Page) -> int:
    return page.evaluate(
        "getComputedStyle(document.querySelector('[data-testid=tiles]')).gridTemplateColumns.split(' ').length"
    )


def snap(page: Page, name: str) -> None:
    """The screen as the README shows it: into docs/img with IMAGEN_UPDATE_SCREENSHOTS=1 (so that a
    test run does not rewrite tracked files), else beside the other screenshots (ARTIFACTS)."""
    folder = DOCS_IMG if os.environ.get("IMAGEN_UPDATE_SCREENSHOTS") == "1" else ARTIFACTS
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.jpg"), type="jpeg", quality=80)


def series_weight(page: Page, url: str) -> int:
    """Bytes over the wire to show the series page afresh, every picture loaded."""
    sizes: list[int] = []
    page.on(
        "requestfinished",
        lambda request: sizes.append(request.sizes()["responseBodySize"] + request.sizes()["responseHeadersSize"]),
    )
    page.goto("about:blank")
    page.goto(url)
    tiles = page.locator("[data-testid^=picture-]")
    expect(tiles.first).to_be_visible()
    for i in range(tiles.count()):
        tiles.nth(i).scroll_into_view_if_needed()
    page.wait_for_function(
        "[...document.querySelectorAll('img.picture')].every(img => img.complete && img.naturalWidth > 0)"
    )
    page.wait_for_load_state("networkidle")
    return sum(sizes)


def test_the_series_screen_puts_the_pictures_first_at_laptop_and_phone_size(browser, shared_stack):  # noqa: F811
    site = shared_stack.site
    for size, (width, _height) in SIZES.items():
        page = sized_page(browser, site, size)
        sign_up(page, f"screen-{size}@example.com")
        series_id = start_small_series(page, "a red kite over green hills", 10)
        # The moment it starts, before anything renders: the first tile and its state are in view.
        expect(page.get_by_test_id("tile-1")).to_be_visible()
        assert in_view(page, "tile-1"), f"{size}: first tile out of view"
        assert in_view(page, "tile-status-1")
        cols = columns(page)
        assert (2 <= cols <= 5) if size == "laptop" else cols == 2, f"{size}: {cols} columns"
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling
        wait_all_done(page, 10)
        # Every picture's actions sit on its tile.
        tile = page.get_by_test_id("tile-1").bounding_box()
        for action in ("pick", "look", "compare", "vary", "upscale", "edit", "copy-seed", "download"):
            box = page.get_by_test_id(f"{action}-1").bounding_box()
            assert (
                box is not None and tile["y"] <= box["y"] and box["y"] + box["height"] <= tile["y"] + tile["height"]
            ), action
        snap(page, f"series-{size}")
        assert_accessible(page, f"series, {size}")
        # Copy seed says so; a number key on the page picks; the winner's button un-picks.
        page.get_by_test_id("copy-seed-2").click()
        expect(page.get_by_test_id("toast")).to_contain_text("copied")
        page.keyboard.press("2")
        expect(page.get_by_test_id("tile-2")).to_have_attribute("data-winner", "true")
        page.get_by_test_id("pick-2").click()
        expect(page.get_by_test_id("tile-2")).to_have_attribute("data-winner", "false")

        # The lightbox fits the viewport: its navigation, compare, pick and download are in view.
        page.get_by_test_id("compare-3").click()
        expect(page.get_by_test_id("lightbox-figure-4")).to_be_visible()
        screenshot(page, f"lightbox-compare-{size}")
        for testid in ("lightbox-close", "lightbox-prev", "lightbox-next", "compare-with", "lightbox-pick-3",
                       "lightbox-download-3", "lightbox-pick-4", "lightbox-download-4"):  # fmt: skip
            assert in_view(page, testid), f"{size}: {testid} out of view"
        page.get_by_label("Compare with").select_option("")
        page.get_by_test_id("lightbox-next").click()
        expect(page.get_by_test_id("lightbox-title")).to_contain_text("Try 4")
        for testid in ("lightbox-prev", "lightbox-next", "compare-with", "lightbox-pick-4", "lightbox-download-4"):
            assert in_view(page, testid), f"{size}: {testid} out of view"
        snap(page, f"lightbox-{size}")
        assert_accessible(page, f"lightbox, {size}")
        # A number key in the lightbox acts on the picture it shows: try 6 is shown, and picked.
        page.keyboard.press("6")
        expect(page.get_by_test_id("lightbox-title")).to_contain_text("Try 6")
        expect(page.get_by_test_id("lightbox-pick-6")).to_have_attribute("aria-pressed", "true")
        expect(page.get_by_test_id("lightbox-said")).to_contain_text("Try 6 is the winner")
        page.keyboard.press("Escape")
        expect(page.get_by_test_id("tile-6")).to_have_attribute("data-winner", "true")

        # Three more series (tiny, made in the database) fill the gallery's picture.
        with psycopg.connect(shared_stack.db_url, autocommit=True) as conn:
            email = f"screen-{size}@example.com"
            user = conn.execute("select id from auth.users where email = %s", (email,)).fetchone()[0]
            for prompt in ("a lighthouse at dusk", "a fox in the snow", "a harbour by night"):
                with as_user(conn, user):
                    settings = Jsonb({"model": "tiny", "width": 256, "height": 256, "steps": 2})
                    conn.execute("select imagen.create_series(%s, 2, %s)", (prompt, settings))
        page.get_by_test_id("nav-gallery").click()
        cards = page.get_by_test_id("series-card")
        expect(cards).to_have_count(4)
        for i in range(4):
            expect(cards.nth(i)).to_have_attribute("data-state", re.compile("done|winner"), timeout=RENDER_WAIT_MS)
        expect(page.get_by_test_id("toast")).to_be_hidden()
        assert in_view(page, cards.first) and in_view(page, cards.nth(1))  # two a row on a phone too
        snap(page, f"gallery-{size}")
        if size == "laptop":
            assert page.request.get(f"{site.url}/favicon.svg").ok  # the page's icon (index.html), no 404
            # The app's script as a deployment serves it: compressed, cached for a year (its name is its hash).
            script = page.evaluate("document.querySelector('script[type=module]').src")
            asked = urllib.request.Request(script, headers={"Accept-Encoding": "gzip"})
            with urllib.request.urlopen(asked, timeout=10) as answer:
                assert answer.headers["Content-Encoding"] == "gzip"
                assert "immutable" in answer.headers["Cache-Control"]
            weight = series_weight(page, f"{site.url}/#/series/{series_id}")
            print(f"series of 10 weighs {weight} bytes")
            assert weight < 1_000_000
        page.context.close()


def test_errors_clear_when_their_cause_ends_and_a_refused_token_signs_out_saying_why(browser, shared_stack):  # noqa: F811
    site = shared_stack.site
    for size in SIZES:
        page = sized_page(browser, site, size)
        email = f"outage-{size}@example.com"
        sign_up(page, email)
        start_small_series(page, "a lantern in the fog", 1)
        wait_all_done(page, 1)
        series_url = page.url
        # The API goes away: the page says so in words, not the library's "Failed to fetch".
        page.route("**/rest/v1/**", lambda route: route.abort())
        error = page.get_by_test_id("series-error")
        page.get_by_test_id("pick-1").click()
        expect(error).to_contain_text("cannot be reached")
        expect(error).not_to_contain_text("Failed to fetch")
        expect(page.get_by_test_id("tile-1")).to_have_attribute("data-winner", "false")
        # It comes back: the message goes by itself with the next good read (no click, no reload).
        page.unroute("**/rest/v1/**")
        expect(error).to_be_hidden(timeout=15_000)
        expect(page.get_by_test_id("live-status")).to_have_attribute("data-state", "live")

        # A token the API refuses: signed out, told why, and back on the same page after signing in.
        page.evaluate("""() => {
            const key = Object.keys(localStorage).find(k => k.endsWith('-auth-token'));
            const saved = JSON.parse(localStorage.getItem(key));
            saved.access_token = saved.access_token.slice(0, -6) + 'AAAAAA';  // its signature broken
            saved.refresh_token = 'revoked';  // and no way to a fresh one
            localStorage.setItem(key, JSON.stringify(saved));
        }""")
        page.reload()
        expect(page.get_by_test_id("auth-error")).to_contain_text("session is no longer valid")
        expect(page.get_by_test_id("signed-in-as")).to_have_count(0)
        assert_accessible(page, f"signed out, {size}")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill("correct horse battery")
        page.get_by_test_id("sign-in").click()
        expect(page.get_by_test_id("tile-1")).to_be_visible()
        assert page.url == series_url
        page.context.close()


def test_tabs_in_step_state_in_the_url_and_solo_pictures_in_the_app(browser, shared_stack):  # noqa: F811
    site, conn = shared_stack.site, psycopg.connect(shared_stack.db_url, autocommit=True)
    page = sized_page(browser, site, "laptop")
    sign_up(page, "tabs@example.com")
    user = conn.execute("select id from auth.users where email = 'tabs@example.com'").fetchone()[0]
    tiny = Jsonb({"model": "tiny", "width": 256, "height": 256, "steps": 1})
    for i in range(30):  # 30 series, one transaction each (pages are keyed on created_at), cancelled at once
        with as_user(conn, user):
            prompt = f"{'harbour' if i % 2 else 'forest'} no. {i}"
            made = conn.execute("select imagen.create_series(%s, 1, %s)", (prompt, tiny)).fetchone()[0]
            conn.execute("select imagen.cancel_series(%s)", (made["id"],))
    for prompt in ("a fox in the snow, alone", "a heron at dawn, alone"):  # queued one after the other
        with as_user(conn, user):
            conn.execute("select imagen.submit_job(%s, %s)", (prompt, tiny))
    rendered = "select count(*) = 2 from imagen.images where owner_id = %s and series_id is null"
    wait_until(lambda: conn.execute(rendered, (user,)).fetchone()[0], RENDER_WAIT_MS / 1000, what="solo pictures")
    page.reload()
    # Solo pictures by date among the series (the newest first), opening in the app's lightbox.
    first = page.get_by_test_id("series-list").locator("> li").first
    expect(first).to_have_attribute("data-testid", "solo-card")
    first.get_by_test_id("solo-open").click()
    expect(page.get_by_test_id("lightbox-title")).to_contain_text("Picture 1")
    expect(page.get_by_test_id("lightbox-figure-1")).to_contain_text("a heron at dawn, alone")
    expect(page.get_by_test_id("lightbox-figure-1")).to_contain_text("seed")
    expect(page.get_by_test_id("lightbox-download-1")).to_be_visible()
    expect(page.get_by_test_id("lightbox-pick-1")).to_be_hidden()  # nothing to pick among solo pictures
    assert_accessible(page, "a solo picture in the lightbox")
    # What it makes names it as a picture: it is no try of any series.
    expect(page.get_by_test_id("vary-title")).to_have_text("Variations of this picture: new seeds")
    expect(page.get_by_test_id("upscale-title")).to_contain_text("Upscale this picture: 2 times as wide and high")
    page.get_by_test_id("lightbox-edit").click()
    expect(page.get_by_test_id("edit-title")).to_have_text(
        "Edit a region of this picture: paint over what should change"
    )
    page.keyboard.press("Escape")  # back to the picture, then out of the lightbox
    expect(page.get_by_test_id("lightbox-edit")).to_be_focused()
    page.keyboard.press("Escape")

    # Search, filter and pages in the URL: a reload keeps them; back returns to the same scroll place.
    page.get_by_label("Search prompts").fill("harbour")
    expect(page).to_have_url(re.compile(r"#/\?q=harbour$"))
    page.reload()
    expect(page.get_by_label("Search prompts")).to_have_value("harbour")
    expect(page.get_by_test_id("series-card")).to_have_count(15)
    # The nav's "Gallery" returns from a series to the gallery as it was left: searched.
    page.get_by_test_id("series-card").first.locator("a.series-link").click()
    page.wait_for_url("**/#/series/*")
    page.get_by_test_id("nav-gallery").click()
    expect(page).to_have_url(re.compile(r"#/\?q=harbour$"))
    expect(page.get_by_label("Search prompts")).to_have_value("harbour")
    expect(page.get_by_test_id("series-card")).to_have_count(15)
    page.get_by_label("Search prompts").fill("")
    expect(page.get_by_test_id("nav-gallery")).to_have_attribute("href", "#/")  # it follows the search
    expect(page.get_by_test_id("series-card")).to_have_count(24)
    page.get_by_test_id("gallery-more").click()
    expect(page.get_by_test_id("series-card")).to_have_count(30)
    expect(page).to_have_url(re.compile(r"#/\?n=30$"))
    last = page.get_by_test_id("series-card").last
    last.scroll_into_view_if_needed()
    # Saved in the history entry once the scrolling stops: wait for that.
    page.wait_for_function("() => history.state && Math.abs(history.state.scrollY - window.scrollY) < 5")
    scrolled = page.evaluate("window.scrollY")
    assert scrolled > 500
    last.locator("a.series-link").click()
    page.wait_for_url("**/#/series/*")
    page.go_back()
    expect(page.get_by_test_id("series-card")).to_have_count(30)
    page.wait_for_function("y => Math.abs(window.scrollY - y) < 50", arg=scrolled)

    # Two tabs in step: the series picked, then deleted, in one shows so in the other. A finished
    # series is not polled (series.ts re-reads while a try is unfinished), so the change can only
    # have come live, from the other tab or the database's broadcast; the cap is for a loaded machine.
    with as_user(conn, user):
        made = conn.execute("select imagen.create_series('two tabs', 1, %s)", (tiny,)).fetchone()[0]
    tab = f"{site.url}/#/series/{made['id']}"
    page.goto(tab)
    other = page.context.new_page()
    other.goto(tab)
    wait_all_done(other, 1)
    wait_all_done(page, 1)
    page.get_by_test_id("pick-1").click()
    expect(other.get_by_test_id("tile-1")).to_have_attribute("data-winner", "true", timeout=30_000)
    page.get_by_test_id("series-menu-open").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("delete-series").click()
    expect(other.get_by_test_id("series-missing")).to_be_visible(timeout=30_000)
    page.context.close()
    conn.close()
