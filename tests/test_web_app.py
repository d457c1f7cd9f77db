"""The web app in a real browser (Debian's chromium, driven by Playwright for Python) against the
stand-ins (Auth, PostgREST, Realtime, Storage) over the real test database, with a real
`imagen worker` process on the tiny model (the browser and the built app: tests/conftest.py).
Screenshots of each screen go to $IMAGEN_ARTIFACTS (default: out/test-artifacts/web)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from bench.postgrest_limits import fill
from playwright.sync_api import Page, expect
from psycopg.types.json import Jsonb

from imagen.console.users import as_user
from imagen.dev.supabase_standin import SupabaseStandIn
from imagen.dev.supabase_standin.auth_config import AuthConfig
from imagen.dev.web_stack import StaticSite, web_config, web_sources_digest, worker_process
from tests.database import REPO_ROOT, with_dbname
from tests.workers import alive, ignore_sigint, process_tree, supabase_worker_env, wait_until

ARTIFACTS = Path(os.environ.get("IMAGEN_ARTIFACTS", REPO_ROOT / "out/test-artifacts/web"))
PASSWORD = "correct horse battery"
RENDER_WAIT_MS = 120_000
AXE = REPO_ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"


@dataclasses.dataclass
class Stack:
    db_url: str
    standin: SupabaseStandIn
    site: StaticSite


@contextlib.contextmanager
def local_stack(db_url: str, standin: SupabaseStandIn, web_dist: Path, tiny_model: str, log: Path,
                **worker_settings: object) -> Iterator[Stack]:  # fmt: skip
    """The app, served as a static host would, with a real worker rendering for it."""
    env = supabase_worker_env(standin, tiny_model, **{"heartbeat_interval": 0.5, **worker_settings})
    config = web_config(standin.url, standin.keys.anon)
    with worker_process(env, log), StaticSite(web_dist, config) as served:
        yield Stack(db_url, standin, served)


@pytest.fixture(scope="module")
def shared_stack(databases, pg_server, web_dist, tiny_model, tmp_path_factory) -> Iterator[Stack]:
    """One stack for the tests that leave it as they found it: each signs up users of its own, so
    none sees another's series (the worker process and the stand-ins start once, not per test)."""
    db_url = databases.create()
    admin_url = with_dbname(pg_server.admin_url, db_url.rsplit("/", 1)[1])
    try:
        with SupabaseStandIn(db_url, admin_url=admin_url) as standin:
            log = tmp_path_factory.mktemp("web-stack") / "worker.log"
            with local_stack(db_url, standin, web_dist, tiny_model, log) as stack:
                yield stack
    finally:
        databases.drop(db_url)


@pytest.fixture(scope="module")
def confirming_site(databases, pg_server, web_dist) -> Iterator[tuple[StaticSite, SupabaseStandIn]]:
    """The app against an Auth with "Confirm email" on, as a hosted project has it by default
    (no worker: nothing is rendered); its mail goes to the stand-in's mail catcher."""
    db_url = databases.create()
    admin_url = with_dbname(pg_server.admin_url, db_url.rsplit("/", 1)[1])
    config = dataclasses.replace(AuthConfig.from_config_toml(), enable_confirmations=True, email_sent=10)
    try:
        with (
            SupabaseStandIn(db_url, admin_url=admin_url, auth_config=config) as standin,
            StaticSite(web_dist, web_config(standin.url, standin.keys.anon)) as served,
        ):
            yield served, standin
    finally:
        databases.drop(db_url)


@pytest.fixture
def site(shared_stack) -> StaticSite:
    return shared_stack.site


@pytest.fixture
def stack_conn(shared_stack) -> Iterator[psycopg.Connection]:
    """A connection to the shared stack's database, as `conn` is to a test's own."""
    with psycopg.connect(shared_stack.db_url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def own_site(db_url, standin, web_dist, tiny_model, tmp_path) -> Iterator[StaticSite]:
    """A stack of this test's own, for a test that changes the stand-ins' behaviour."""
    with local_stack(db_url, standin, web_dist, tiny_model, tmp_path / "worker.log") as stack:
        yield stack.site


def new_page(browser, site: StaticSite, width: int = 1280, fake_clock: bool = False) -> Page:
    """A page of the app in a fresh browser context; with fake_clock, the page's timers and Date are
    Playwright's, which flow as real time does until the test pauses them."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    if fake_clock:
        context.clock.install()
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(site.url)
    return page


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def assert_accessible(page: Page, screen: str) -> None:
    """axe-core (npm, the web app's dev dependency) finds no violation in what the page shows now."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    found = [f"{v['id']}: {v['help']} at {[n['target'] for n in v['nodes'][:3]]}" for v in result["violations"]]
    assert found == [], f"{screen}: {found}"


def ask_to_sign_up(page: Page, email: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_test_id("sign-up").click()


def sign_up(page: Page, email: str) -> None:
    ask_to_sign_up(page, email)
    expect(page.get_by_test_id("signed-in-as")).to_contain_text(email)


def start_series(page: Page, prompt: str, n: int, steps: int = 4) -> str:
    """Fills the new-series form and starts it; returns the series id from the page's URL."""
    page.get_by_test_id("nav-new").click()
    page.get_by_label("Prompt").fill(prompt)
    page.get_by_label("Tries").fill(str(n))
    page.get_by_label("Steps").fill(str(steps))
    page.get_by_test_id("create-series").click()
    page.wait_for_url("**/#/series/*")
    return page.url.rsplit("/", 1)[1]


def wait_all_done(page: Page, n: int) -> None:
    for i in range(1, n + 1):
        expect(page.get_by_test_id(f"tile-{i}")).to_have_attribute("data-status", "done", timeout=RENDER_WAIT_MS)
        expect(page.get_by_test_id(f"picture-{i}")).to_be_visible()


def test_sign_up_then_sign_in(browser, site):
    page = new_page(browser, site)
    screenshot(page, "1-sign-in")
    assert_accessible(page, "sign in")
    sign_up(page, "ada@example.com")
    page.get_by_test_id("sign-out").click()
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("not the password")
    page.get_by_test_id("sign-in").click()
    expect(page.get_by_test_id("auth-error")).to_contain_text("The email address or the password is wrong")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")  # the keyboard path: Enter submits
    expect(page.get_by_test_id("signed-in-as")).to_contain_text("ada@example.com")


def mailed_link(standin: SupabaseStandIn, email: str, subject: str) -> str:
    """The link in the newest mail of this subject that Auth sent to `email` (the mail catcher's)."""
    mails = wait_until(
        lambda: [m for m in standin.inbox(email) if m["subject"] == subject], timeout=10, what=f"{subject!r} mail"
    )
    return mails[-1]["links"][0]


def test_with_confirmations_sign_up_asks_to_open_the_mailed_link_which_signs_in(browser, confirming_site):
    site, standin = confirming_site
    page = new_page(browser, site)
    ask_to_sign_up(page, "grace@example.com")
    expect(page.get_by_test_id("auth-message")).to_contain_text("Check your inbox")
    expect(page.get_by_test_id("resend")).to_be_visible()
    page.get_by_test_id("sign-in").click()  # before confirming: the screen says what to do
    expect(page.get_by_test_id("auth-error")).to_contain_text("Confirm your email address first")
    expect(page.get_by_test_id("resend")).to_be_visible()
    screenshot(page, "1-confirm-email")
    assert_accessible(page, "confirm email")
    link = mailed_link(standin, "grace@example.com", "Confirm Your Email")
    page.goto(link)
    expect(page.get_by_test_id("signed-in-as")).to_contain_text("grace@example.com")
    assert "access_token" not in page.url
    page.get_by_test_id("sign-out").click()
    expect(page.get_by_test_id("sign-in")).to_be_visible()  # signed out before the next page load
    page.goto(link)  # a link works once: the app says why this one did not
    expect(page.get_by_test_id("auth-error")).to_contain_text("Email link is invalid or has expired")
    assert "error" not in page.url
    # Signing up again with the confirmed address: no claim that an account was created.
    ask_to_sign_up(page, "grace@example.com")
    expect(page.get_by_test_id("auth-message")).to_contain_text("may already have an account")
    page.get_by_label("Password").press("Enter")
    expect(page.get_by_test_id("signed-in-as")).to_contain_text("grace@example.com")


def test_forgot_password_mails_a_link_to_set_a_new_one(browser, confirming_site):
    site, standin = confirming_site
    page = new_page(browser, site)
    ask_to_sign_up(page, "heidi@example.com")
    expect(page.get_by_test_id("auth-message")).to_contain_text("Check your inbox")
    page.goto(mailed_link(standin, "heidi@example.com", "Confirm Your Email"))
    page.get_by_test_id("sign-out").click()
    page.get_by_label("Email").fill("heidi@example.com")
    page.get_by_test_id("forgot-password").click()
    expect(page.get_by_test_id("auth-message")).to_contain_text("a link to set a new password")
    page.goto(mailed_link(standin, "heidi@example.com", "Reset Your Password"))
    page.get_by_label("New password", exact=True).fill("a brand new horse")
    screenshot(page, "1-new-password")
    page.get_by_test_id("save-password").click()
    expect(page.get_by_test_id("nav-gallery")).to_have_attribute("aria-current", "page")
    page.get_by_test_id("sign-out").click()
    page.get_by_label("Email").fill("heidi@example.com")
    page.get_by_label("Password").fill("a brand new horse")
    page.get_by_test_id("sign-in").click()
    expect(page.get_by_test_id("signed-in-as")).to_contain_text("heidi@example.com")


def test_a_series_of_three_shows_progress_then_pictures_and_the_winner_is_picked_by_click_and_by_key(browser, site):
    page = new_page(browser, site)
    sign_up(page, "bo@example.com")
    screenshot(page, "2-gallery-empty")
    assert_accessible(page, "empty gallery")
    page.get_by_test_id("nav-new").click()
    screenshot(page, "3-new-series")
    assert_accessible(page, "new series")
    series_id = start_series(page, "a lighthouse on a cliff at dusk", 3)
    # Progress visible before the try completes: a bar strictly between 0 and its last step.
    page.wait_for_function(
        """() => [...document.querySelectorAll('[role=progressbar]')].some(bar => {
             const now = Number(bar.getAttribute('aria-valuenow')), max = Number(bar.getAttribute('aria-valuemax'));
             return now > 0 && now < max; })""",
        timeout=RENDER_WAIT_MS,
    )
    screenshot(page, "4-series-rendering")
    assert_accessible(page, "series rendering")
    wait_all_done(page, 3)
    screenshot(page, "5-series-done")
    assert_accessible(page, "series done")

    # Tiles show the thumbnails (WebP, lazily loaded); the lightbox shows the full PNG.
    expect(page.get_by_test_id("picture-1")).to_have_attribute("src", re.compile(r"\.webp\?token="))
    expect(page.get_by_test_id("picture-1")).to_have_attribute("loading", "lazy")

    # Looking is not picking: the picture opens the lightbox; arrows move, Esc closes.
    page.get_by_test_id("open-1").click()
    lightbox = page.get_by_test_id("lightbox")
    expect(lightbox).to_be_visible()
    expect(page.get_by_test_id("lightbox-image-1")).to_have_attribute("src", re.compile(r"\.png\?token="))
    page.keyboard.press("ArrowRight")
    expect(page.get_by_test_id("lightbox-title")).to_contain_text("Try 2 (2 of 3 finished)")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    expect(page.get_by_test_id("lightbox-title")).to_contain_text("Try 3 (3 of 3 finished)")
    page.get_by_label("Compare with").select_option("1")
    expect(page.get_by_test_id("lightbox-figure-3")).to_be_visible()
    expect(page.get_by_test_id("lightbox-figure-1")).to_be_visible()
    screenshot(page, "5b-lightbox-compare")
    assert_accessible(page, "lightbox, comparing")
    expect(page.get_by_test_id("tile-1")).not_to_have_attribute("data-winner", "true")  # nothing picked by looking
    page.get_by_test_id("lightbox-pick-1").click()  # the explicit, labelled action
    expect(page.get_by_test_id("lightbox-pick-1")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("tile-1")).to_have_attribute("data-winner", "true")
    page.keyboard.press("Escape")
    expect(lightbox).to_be_hidden()

    page.get_by_test_id("pick-2").click()
    expect(page.get_by_test_id("tile-2")).to_have_attribute("data-winner", "true")
    page.keyboard.press("3")
    expect(page.get_by_test_id("tile-3")).to_have_attribute("data-winner", "true")
    expect(page.get_by_test_id("tile-2")).not_to_have_attribute("data-winner", "true")
    expect(page.get_by_test_id("pick-3")).to_have_attribute("aria-pressed", "true")
    # The keyboard focus ring on a picture is drawn inside .media, which clips what is outside.
    page.get_by_test_id("open-2").focus()
    assert page.get_by_test_id("open-2").evaluate("el => getComputedStyle(el).outlineOffset") == "-4px"

    page.get_by_test_id("nav-gallery").click()
    cards = page.get_by_test_id("series-card")
    expect(cards).to_have_count(1)
    expect(cards.first).to_have_attribute("data-series-id", series_id)
    expect(cards.first).to_contain_text("3 of 3 done")
    expect(page.get_by_test_id("solo-card")).to_have_count(0)  # the series' pictures are not loose in the gallery
    screenshot(page, "6-gallery")
    assert_accessible(page, "gallery")

    phone = new_page(browser, site, width=375)
    phone.get_by_label("Email").fill("bo@example.com")
    phone.get_by_label("Password").fill(PASSWORD)
    phone.get_by_test_id("sign-in").click()
    phone.goto(f"{site.url}/#/series/{series_id}")
    expect(phone.get_by_test_id("tile-3")).to_have_attribute("data-winner", "true")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scrolling at phone width
    screenshot(phone, "7-series-phone")
    assert_accessible(phone, "series on a phone")
    for link in ("nav-gallery", "nav-new"):  # tap targets of 44 px
        assert phone.get_by_test_id(link).bounding_box()["height"] >= 44


def test_a_second_user_sees_none_of_it(browser, site):
    owner = new_page(browser, site)
    sign_up(owner, "cy@example.com")
    series_id = start_series(owner, "a private matter", 1, steps=2)
    wait_all_done(owner, 1)

    other = new_page(browser, site)
    sign_up(other, "di@example.com")
    expect(other.get_by_test_id("gallery-empty")).to_be_visible()
    other.goto(f"{site.url}/#/series/{series_id}")
    expect(other.get_by_test_id("series-missing")).to_be_visible()
    expect(other.get_by_test_id("tile-1")).to_have_count(0)

    # The owner deletes it (after the browser's confirm): gone from the gallery.
    owner.once("dialog", lambda dialog: dialog.accept())
    owner.get_by_test_id("series-menu-open").click()  # the series' actions are in its menu
    owner.get_by_test_id("delete-series").click()
    expect(owner.get_by_test_id("gallery-empty")).to_be_visible()


def test_bad_input_shows_the_database_s_message_next_to_its_field(browser, site):
    page = new_page(browser, site)
    sign_up(page, "ed@example.com")
    page.get_by_test_id("nav-new").click()
    # The form's own check first, then the database's (the form's checks switched off).
    page.get_by_label("Prompt").fill("a fox")
    page.get_by_label("Tries").fill("11")
    page.get_by_test_id("create-series").click()
    expect(page.get_by_test_id("error-n")).to_contain_text("Tries must be between 1 and 10")  # the field's label
    page.evaluate("localStorage.setItem('imagen:client-checks', 'off')")
    page.get_by_label("Tries").fill("12")
    page.get_by_label("Prompt").press("Control+Enter")  # submits from the textarea too
    expect(page.get_by_test_id("error-n")).to_contain_text("Tries must be between 1 and 10, got 12")
    expect(page.get_by_label("Tries")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "8-bad-input")
    assert_accessible(page, "form with errors")
    assert "#/new" in page.url  # nothing was created


def test_during_a_realtime_outage_every_tile_still_ends_filled(browser, shared_stack):
    site, standin = shared_stack.site, shared_stack.standin  # the outage ends with the test
    page = new_page(browser, site)
    sign_up(page, "fa@example.com")
    start_series(page, "through the storm", 2, steps=4)
    expect(page.get_by_test_id("tile-1")).to_be_visible()
    standin.realtime_outage(600)  # no Realtime at all from here on: only re-reading fills the tiles
    try:
        wait_all_done(page, 2)
        # Filled while Realtime was still down, with no socket open: by re-reading alone.
        assert time.monotonic() < standin.realtime.outage_until
        assert standin.realtime_socket_count() == 0
        expect(page.get_by_test_id("live-status")).to_have_attribute("data-state", "reconnecting")
    finally:
        standin.realtime_outage(0)


def test_channels_closed_by_realtime_are_joined_again_and_a_missing_series_stops_joining(browser, shared_stack):
    """What an expired token or the project's quota does: Realtime shuts the page's channels down.
    The page says so and joins the same channels again with a fresh token."""
    site, standin = shared_stack.site, shared_stack.standin  # every channel shut is joined again
    page = new_page(browser, site)
    sign_up(page, "ro@example.com")
    series_id = start_series(page, "a second wind", 1, steps=4)
    status = page.get_by_test_id("live-status")
    expect(status).to_have_attribute("data-state", "live")
    # Every state the page shows, recorded as it changes: "reconnecting" may last less than a look.
    page.evaluate("""() => {
      const status = document.querySelector('[data-testid=live-status]');
      window.liveStates = [];
      new MutationObserver(() => window.liveStates.push(status.dataset.state))
        .observe(status, {attributes: true, attributeFilter: ['data-state']});
    }""")
    standin.shut_down_realtime_channels("Token has expired 0 seconds ago")
    page.wait_for_function("() => window.liveStates.includes('reconnecting')")
    expect(status).to_have_attribute("data-state", "live")
    page_topics = sorted(t for t in standin.realtime_topics() if series_id in t)  # not the worker's
    assert page_topics == [f"realtime:series:{series_id}"]  # one private channel: rows and progress
    # A series that does not exist: its channels are left, and no re-join is scheduled.
    missing = "00000000-0000-4000-8000-000000000000"
    page.goto(f"{site.url}#/series/{missing}")
    expect(page.get_by_test_id("series-missing")).to_be_visible()
    wait_until(lambda: not [t for t in standin.realtime_topics() if missing in t], 10, 0.05, "no channel left")


def test_the_app_is_built_again_when_a_source_changes_and_only_then(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.ts").write_text("export {};")
    (tmp_path / "node_modules").mkdir()
    before = web_sources_digest(tmp_path)
    (tmp_path / "node_modules" / "dep.js").write_text("1")
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "index.html").write_text("<html>")
    assert web_sources_digest(tmp_path) == before  # what vite writes or npm installs is not a source
    (tmp_path / "src" / "main.ts").write_text("export const x = 1;")
    assert web_sources_digest(tmp_path) != before


def start_web_demo(out: Path, sigint_ignored: bool):
    """`imagen demo --web` as a person starts it (or a script, with SIGINT ignored); returns the
    process, the app's URL and what it printed up to there."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGEN_", "SUPABASE_", "DATABASE_URL"))}
    # Its temporary folders under the test's own, so that a demo killed before it can remove them
    # leaves nothing behind (PostgreSQL's data, which another user must reach, stays under /tmp).
    (out / "tmp").mkdir(parents=True, exist_ok=True)
    env["TMPDIR"] = str(out / "tmp")
    command = [sys.executable, "-m", "imagen.cli", "demo", "--web", "--port", "0", "--out", str(out)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=ignore_sigint if sigint_ignored else None)  # fmt: skip
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "open http://" in line:
            return proc, line.split("open ", 1)[1].split()[0], "".join(lines)
    raise AssertionError("the demo ended before printing its URL:\n" + "".join(lines))


@pytest.mark.parametrize(
    ("signum", "sigint_ignored"),
    [(signal.SIGINT, True), (signal.SIGTERM, False), (signal.SIGKILL, False)],
    ids=["sigint-inherited-ignored", "sigterm", "sigkill"],
)
def test_demo_web_serves_the_app_with_only_the_anon_key_and_leaves_no_process_behind(tmp_path, signum,
                                                                                    sigint_ignored):  # fmt: skip
    import json
    import urllib.request

    import jwt

    proc, url, printed = start_web_demo(tmp_path, sigint_ignored)
    with proc:
        with urllib.request.urlopen(f"{url}/config.json", timeout=10) as answer:
            config = json.load(answer)
        assert set(config) == {"supabaseUrl", "supabaseAnonKey"}
        claims = jwt.decode(config["supabaseAnonKey"], options={"verify_signature": False})
        assert claims["role"] == "anon"  # never the service role near the browser
        assert claims["exp"] - claims["iat"] > 365 * 24 * 3600  # a stack left running for days keeps working
        with urllib.request.urlopen(url, timeout=10) as page:
            assert page.status == 200 and "text/html" in page.headers["Content-Type"]
        inbox = re.search(r"lands in (\S+)", printed)[1]  # where a person reads Auth's mail
        with urllib.request.urlopen(f"{inbox}api/messages", timeout=10) as answer:
            assert json.load(answer) == []
        children = process_tree(proc.pid)
        assert len(children) >= 2, "the worker and PostgreSQL run as children of the demo"
        clusters = cluster_folders(children)
        assert clusters, "PostgreSQL runs from a data folder of the demo's"
        proc.send_signal(signum)
        rest, _ = proc.communicate(timeout=120)  # reading on: a full pipe must not block the demo
        if signum != signal.SIGKILL:
            assert proc.returncode == 0, printed + rest
            # What a person needs (the URL, how to stop), not a line per request.
            assert "Ctrl-C" in printed + rest and "GET /" not in printed + rest
        wait_until(lambda: not alive(children), 60, 0.05, "the demo's children to end")
    if signum == signal.SIGKILL:  # nothing of the demo runs after SIGKILL: the test removes its cluster
        for folder in clusters:
            shutil.rmtree(folder, ignore_errors=True)
    else:
        assert [f for f in clusters if f.exists()] == [], "a stopped demo removes its cluster"
        assert list((tmp_path / "tmp").iterdir()) == [], "a stopped demo removes its temporary folders"


def cluster_folders(pids: set[int]) -> set[Path]:
    """The folders of the PostgreSQL clusters among these processes (postgres -D FOLDER/data)."""
    folders = set()
    for pid in pids:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"-D" in argv[:-1]:
            folders.add(Path(argv[argv.index(b"-D") + 1].decode()).parent)
    return folders


# The database's PT429 (issue 19), read by the app: how many tries are unfinished and what to do.
def test_the_cap_says_how_many_tries_are_unfinished_and_what_to_do(browser, site, stack_conn):
    page = new_page(browser, site)
    sign_up(page, "cap@example.com")
    stack_conn.execute(
        "insert into imagen.limits (owner_id, max_unfinished_tries)"
        " select id, 1 from auth.users where email = 'cap@example.com'"
    )
    page.get_by_test_id("nav-new").click()
    page.get_by_label("Prompt").fill("a fox")
    page.get_by_label("Tries").fill("2")
    page.get_by_test_id("create-series").click()
    error = page.get_by_test_id("form-error")
    expect(error).to_contain_text("You have 0 tries queued or running, and 2 more would go over your limit")
    expect(error).to_contain_text("of 1 unfinished try.")
    expect(error).to_contain_text("Wait for some to finish, or cancel some you no longer need, then try again.")
    assert "#/new" in page.url


def test_more_like_this_rerun_use_these_settings_and_copy_seed(browser, site, stack_conn):
    conn = stack_conn
    page = new_page(browser, site)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_up(page, "vi@example.com")
    user = conn.execute("select id from auth.users where email = 'vi@example.com'").fetchone()[0]
    with as_user(conn, user):  # 256², which the form does not offer: 16 times faster to render
        tiny = Jsonb({"model": "tiny", "width": 256, "height": 256, "steps": 2})
        parent_id = conn.execute("select imagen.create_series('a kite over dunes', 2, %s)", (tiny,)).fetchone()[0]["id"]
    page.goto(f"{site.url}/#/series/{parent_id}")
    wait_all_done(page, 2)
    page.get_by_test_id("copy-seed-2").click()
    seed = page.get_by_test_id("tile-2").get_attribute("data-seed")
    assert page.evaluate("navigator.clipboard.readText()") == seed

    # More like try 1: from the tile's button, in the lightbox, strong; a child series of 2.
    page.get_by_test_id("vary-1").click()
    expect(page.get_by_test_id("vary-title")).to_contain_text("Variations of try 1")
    page.get_by_test_id("vary-n").fill("2")
    page.get_by_label("Strength").select_option(label="Strong (70 %)")
    screenshot(page, "9-more-like-this")
    assert_accessible(page, "more like this")
    page.get_by_test_id("vary-start").click()
    page.wait_for_url(re.compile(r".*#/series/(?!" + parent_id + ").*"))
    expect(page.get_by_test_id("series-settings")).to_contain_text("variations at 70 % strength")
    wait_all_done(page, 2)  # rendered from the picture by the worker's resident model
    expect(page.get_by_test_id("series-kind")).to_have_text("Variation")
    expect(page.get_by_test_id("series-parent")).to_contain_text("Variation of try 1 of")
    screenshot(page, "10-variations")
    assert_accessible(page, "variation series")
    page.get_by_test_id("series-parent").get_by_role("link").click()
    expect(page.get_by_test_id("series-children")).to_contain_text("of try 1 (2 tries)")  # linked both ways

    # Rerun: the same request, new seeds, as a new series.
    page.get_by_test_id("series-menu-open").click()  # the series' actions are in its menu
    page.get_by_test_id("rerun").click()
    page.wait_for_url(re.compile(r".*#/series/(?!" + parent_id + ").*"))
    rerun_id = page.url.rsplit("/", 1)[1]
    expect(page.get_by_test_id("series-prompt")).to_have_text("a kite over dunes")
    expect(page.get_by_test_id("series-summary")).to_have_attribute("data-count", "2")
    expect(page.get_by_test_id("series-reruns")).to_contain_text("Rerun of")  # its lineage, both ways:
    page.get_by_test_id("nav-gallery").click()
    rerun_card = page.locator(f"[data-testid=series-card][data-series-id='{rerun_id}']")
    expect(rerun_card.get_by_test_id("series-card-kind")).to_have_text("Rerun")
    original_card = page.locator(f"[data-testid=series-card][data-series-id='{parent_id}']")
    expect(original_card.get_by_test_id("series-card-rerun")).to_have_attribute("href", f"#/series/{rerun_id}")
    rerun_card.get_by_test_id("series-card-rerun-of").click()
    page.wait_for_url(f"**/#/series/{parent_id}")
    page.goto(f"{site.url}/#/series/{rerun_id}")
    # Use these settings: the form, filled in.
    page.get_by_test_id("series-menu-open").click()
    page.get_by_test_id("use-settings").click()
    expect(page.locator("form[data-filled-from]")).to_have_count(1)
    expect(page.get_by_label("Prompt")).to_have_value("a kite over dunes")
    expect(page.get_by_label("Tries")).to_have_value("2")
    expect(page.get_by_label("Steps")).to_have_value("2")


def test_the_gallery_is_a_history_with_dates_states_favourites_search_and_pages(browser, site, stack_conn):
    conn = stack_conn
    page = new_page(browser, site)
    sign_up(page, "gh@example.com")
    user = conn.execute("select id from auth.users where email = 'gh@example.com'").fetchone()[0]
    with as_user(conn, user):  # 26 series, cancelled before any worker sees them
        for i in range(26):
            prompt = f"{'harbour' if i % 2 else 'forest'} no. {i}"
            tiny = Jsonb({"model": "tiny", "width": 256, "height": 256, "steps": 1})
            made = conn.execute("select imagen.create_series(%s, 1, %s)", (prompt, tiny)).fetchone()[0]
            conn.execute("select imagen.cancel_series(%s)", (made["id"],))
        # Two pictures of no series (solo tries), which the worker renders: each card shows its try's prompt.
        for prompt in ("a harbour by night, alone", "a fox in the snow, alone"):
            tiny = Jsonb({"model": "tiny", "width": 256, "height": 256, "steps": 1})
            conn.execute("select imagen.submit_job(%s, %s)", (prompt, tiny))
    rendered = "select count(*) = 2 from imagen.images where owner_id = %s and series_id is null"
    wait_until(lambda: conn.execute(rendered, (user,)).fetchone()[0], RENDER_WAIT_MS / 1000, what="solo pictures")
    # One a minute apart, newest last: pages are keyed on created_at.
    conn.execute("update imagen.series s set created_at = now() - interval '1 minute' * (100 - o.n)"
                 " from (select id, row_number() over (order by settings ->> 'prompt') as n from imagen.series"
                 "       where owner_id = %s) o where o.id = s.id", (user,))  # fmt: skip
    newest = conn.execute("select settings ->> 'prompt' from imagen.series where owner_id = %s"
                          " order by created_at desc limit 1",
                          (user,)).fetchone()[0]  # fmt: skip
    page.reload()  # the gallery shown at sign-up was empty
    cards = page.get_by_test_id("series-card")
    expect(cards).to_have_count(24)
    expect(cards.first.get_by_test_id("series-card-prompt")).to_have_text(newest)  # the prompt on every card
    expect(cards.first.get_by_test_id("series-card-state")).to_have_text("Cancelled")
    expect(cards.first.locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))
    solo = page.get_by_test_id("solo-card")
    expect(solo).to_have_count(2)
    prompts = sorted(solo.locator(".prompt").all_inner_texts())
    assert prompts == ["a fox in the snow, alone", "a harbour by night, alone"]
    page.get_by_test_id("gallery-more").click()
    expect(cards).to_have_count(26)
    expect(page.get_by_test_id("gallery-more")).to_be_hidden()

    cards.nth(3).get_by_test_id("favourite").click()
    expect(cards.nth(3).get_by_test_id("favourite")).to_have_attribute("aria-pressed", "true")
    starred = cards.nth(3).get_attribute("data-series-id")
    page.get_by_label("Show").select_option("favourites")
    expect(cards).to_have_count(1)
    expect(cards.first).to_have_attribute("data-series-id", starred)
    page.get_by_label("Show").select_option("unfinished")
    expect(page.get_by_test_id("gallery-nothing-found")).to_be_visible()
    page.get_by_label("Show").select_option("all")
    page.get_by_label("Search prompts").fill("harbour")
    expect(cards).to_have_count(13)
    expect(solo).to_have_count(1)  # a solo picture is found by its try's prompt
    expect(solo.locator(".prompt")).to_have_text("a harbour by night, alone")
    screenshot(page, "11-gallery-search")
    assert_accessible(page, "gallery, searched")
    page.evaluate("document.activeElement.blur()")  # "?" typed into the search field is the field's
    page.keyboard.press("?")
    expect(page.get_by_test_id("keys-help")).to_be_visible()
    expect(page.get_by_test_id("keys-help")).to_contain_text("Ctrl+Enter")
    assert_accessible(page, "keyboard shortcuts")
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("keys-help")).to_be_hidden()


def test_the_gallery_shows_every_try_past_postgrest_s_row_cap(browser, standin, conn, web_dist):
    """A hosted PostgREST answers at most 1,000 rows a read (db-max-rows), silently; here 20, so a
    few series of 10 tries pass it: every series still counts all its tries, and the unfinished
    filter finds every unfinished series."""
    standin.max_rows = 20
    with StaticSite(web_dist, web_config(standin.url, standin.keys.anon)) as served:
        page = new_page(browser, served)
        sign_up(page, "rows@example.com")
        user = conn.execute("select id from auth.users where email = 'rows@example.com'").fetchone()[0]
        fill(conn, user, 4)  # 4 series of 10 finished tries, each with its picture: 40 of each
        with as_user(conn, user):  # and 22 queued tries (no worker): 2 series of 10, one of 2
            waiting = [conn.execute("select imagen.create_series('waiting', %s)", (n,)).fetchone()[0]["id"]
                       for n in (10, 10, 2)]  # fmt: skip
        finished = [row[0] for row in conn.execute("select distinct series_id from imagen.jobs where status = 'done'")]
        page.reload()
        cards = page.get_by_test_id("series-card")
        expect(cards).to_have_count(7)
        for series_id in finished:
            expect(page.locator(f"[data-testid=series-card][data-series-id='{series_id}']")).to_have_attribute(
                "data-done", "10"
            )
        page.get_by_label("Show").select_option("unfinished")
        expect(cards).to_have_count(3)
        assert sorted(cards.evaluate_all("cards => cards.map(c => c.dataset.seriesId)")) == sorted(map(str, waiting))
