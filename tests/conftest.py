from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from imagen.console.users import ensure_user
from tests.database import DatabaseFactory, PostgresServer, postgres_server, with_dbname

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Two test processes share two cores, each with worker subprocesses of its own: torch's default of a
# thread per core oversubscribes them, and OpenMP's spinning threads then make a tiny render 3-5x
# slower (0.09 s against 0.25-0.5 s a 256 px try, measured with the suite running). One thread each;
# set before any test imports torch, and inherited by every worker the tests start.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# The tests' workers render every try with one tiny pipeline, whatever model the try asks for (the
# default FLUX.1-schnell id, mostly). The tests of claiming by model set their own.
os.environ.setdefault("IMAGEN_CLAIM_MODELS", "*")


@pytest.fixture(scope="session")
def pg_server(request) -> Iterator[PostgresServer]:
    with postgres_server() as server:
        # Once per run: which PostgreSQL the results are about.
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        if reporter is not None and capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(f"\n{server.describe()}")
        yield server


@pytest.fixture(scope="session")
def databases(pg_server: PostgresServer) -> Iterator[DatabaseFactory]:
    factory = DatabaseFactory(pg_server)
    yield factory
    factory.close()


@pytest.fixture
def db_url(databases: DatabaseFactory) -> Iterator[str]:
    url = databases.create()
    yield url
    databases.drop(url)


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_url, autocommit=True) as c:
        yield c


@pytest.fixture
def user_a(conn) -> uuid.UUID:
    return ensure_user(conn, "a@example.com")


@pytest.fixture
def user_b(conn) -> uuid.UUID:
    return ensure_user(conn, "b@example.com")


@pytest.fixture(scope="session")
def tiny_model() -> str:
    """A tiny FLUX pipeline saved to a folder, loaded like any local model (built once per version
    of tiny_models.py into the user's cache, as the demo's is, and shared by every test process)."""
    from imagen.dev.tiny_models import tiny_path

    return str(tiny_path("tiny"))


@pytest.fixture(scope="session")
def renderer(tiny_model):
    from imagen.rendering.render import DiffusersRenderer

    return DiffusersRenderer(tiny_model, device="cpu")


@pytest.fixture
def standin(db_url, pg_server: PostgresServer):
    """STAND-IN for the Supabase API (PostgREST, Storage, Realtime) over this test's database."""
    from imagen.dev.supabase_standin import SupabaseStandIn

    # Realtime logs in as the platform's superuser, as the real one does (its slot, its settings).
    admin_url = with_dbname(pg_server.admin_url, db_url.rsplit("/", 1)[1])
    with SupabaseStandIn(db_url, admin_url=admin_url) as server:
        yield server


@pytest.fixture(scope="session")
def web_dist():
    """The web app as built from the current sources (vite build, when they changed since the last)."""
    from imagen.dev.web_stack import build_web

    return build_web()


@pytest.fixture(autouse=True)
def outside_playwright_s_event_loop(request) -> Iterator[None]:
    """Once the session's browser has started, Playwright's sync API leaves its event loop set as
    this thread's running loop (its greenlets switch away without unsetting it), and asyncio.run()
    in a later test of the same process refuses to start. A test that does not drive the browser
    runs without it; it is put back for the next one that does."""
    loop = asyncio._get_running_loop()
    if loop is None or "browser" in request.fixturenames:
        yield
        return
    asyncio._set_running_loop(None)
    try:
        yield
    finally:
        asyncio._set_running_loop(loop)


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium through Playwright, one per run: two sync Playwright instances in one
    process clash, so every browser test shares this one."""
    import shutil

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = shutil.which("chromium") or "/usr/bin/chromium"
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


@pytest.fixture
def receivers():
    """Webhook endpoints on 127.0.0.1 (imagen.dev.webhook_receiver), closed after the test."""
    from imagen.dev.webhook_receiver import WebhookReceiver

    made: list[WebhookReceiver] = []

    def make(**kw) -> WebhookReceiver:
        made.append(WebhookReceiver(**kw))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()
