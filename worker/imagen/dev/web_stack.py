"""`imagen demo --web`: the web app on one machine with nothing to configure. The embedded
PostgreSQL with the migrations, the Supabase STAND-INS (Auth, PostgREST, Realtime, Storage) as
the local gateway, a real `imagen worker` process on the tiny model, and the built web app
served with a config.json that names the gateway and its anon key. Prints the URL; Ctrl-C stops
it all. The browser tests start the same pieces (tests/test_web_app.py)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import mimetypes
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from aiohttp import web

from imagen.signals import Stopped, die_with_parent, wait_event

WEB_DIR = Path(__file__).resolve().parents[3] / "web"


# Built apps, one folder per state of web/'s sources: a demo or a test run after the first starts
# without a build (vite build is the slowest part of `demo --web`'s start).
WEB_BUILDS = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "imagen" / "web-builds"
NOT_SOURCES = {"node_modules", "dist"}
KEEP_BUILDS_DAYS = 7


def web_sources_digest(web_dir: Path = WEB_DIR) -> str:
    """A digest of everything `vite build` reads in web/ (sources, config, lock), not node_modules."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(web_dir):
        dirs[:] = sorted(d for d in dirs if d not in NOT_SOURCES)
        for name in sorted(files):
            path = Path(root, name)
            digest.update(path.relative_to(web_dir).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def build_web(web_dir: Path = WEB_DIR) -> Path:
    """The built app (`vite build`, its npm dependencies installed by scripts/setup), built once per
    state of the sources and shared by every process (a lock: concurrent starts build it once)."""
    if not (web_dir / "node_modules").is_dir():
        raise RuntimeError(f"{web_dir}/node_modules is missing: run scripts/setup (it runs npm ci there)")
    WEB_BUILDS.mkdir(parents=True, exist_ok=True)
    dist = WEB_BUILDS / web_sources_digest(web_dir)
    with open(dist.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (dist / "index.html").is_file():
            building = dist.with_suffix(".building")
            shutil.rmtree(building, ignore_errors=True)
            subprocess.run(["npx", "vite", "build", "--outDir", str(building), "--emptyOutDir"], cwd=web_dir,
                           check=True, capture_output=True, text=True)  # fmt: skip
            building.rename(dist)
            forget_old_builds()
    return dist


def forget_old_builds() -> None:
    cutoff = time.time() - KEEP_BUILDS_DAYS * 86400
    for old in WEB_BUILDS.iterdir():
        if old.stat().st_mtime >= cutoff:
            continue
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)


# Served compressed (gzip or deflate, as the browser accepts) where that pays: text, not pictures.
COMPRESSIBLE = {".html", ".js", ".css", ".svg", ".json", ".map", ".txt", ".webmanifest"}
# vite names each built asset by its content's hash: a changed file is a new name, so a browser
# may keep one for a year; index.html (which names them) is asked again every time.
IMMUTABLE = "public, max-age=31536000, immutable"


class StaticSite:
    """The built app on 127.0.0.1 with its config.json, served as a deployment would: text
    compressed, the hashed assets cached for a year, index.html revalidated on every visit."""

    def __init__(self, dist: Path, config: dict, port: int = 0) -> None:
        self.dist, self.config, self.port = dist.resolve(), config, port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="imagen-web", daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _config(self, _request: web.Request) -> web.Response:
        return web.json_response(self.config, headers={"Cache-Control": "no-store"})

    async def _file(self, request: web.Request) -> web.Response:
        name = request.match_info["path"] or "index.html"
        path = (self.dist / name).resolve()
        if not path.is_relative_to(self.dist) or not path.is_file():
            raise web.HTTPNotFound()
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        response = web.Response(body=path.read_bytes(), content_type=kind)
        response.headers["Cache-Control"] = IMMUTABLE if name.startswith("assets/") else "no-cache"
        if path.suffix in COMPRESSIBLE:
            response.enable_compression()
        return response

    async def _start(self) -> None:
        app = web.Application()
        app.add_routes([web.get("/config.json", self._config), web.get("/{path:.*}", self._file)])
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def __enter__(self) -> StaticSite:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()


def web_config(supabase_url: str, anon_key: str) -> dict:
    """What the app reads from config.json: the project URL and the anon key, nothing more."""
    return {"supabaseUrl": supabase_url, "supabaseAnonKey": anon_key}


@contextlib.contextmanager
def worker_process(env: dict, log_path: Path) -> Iterator[subprocess.Popen]:
    """`imagen worker` as its own process, stopped with SIGTERM (it releases what it holds). It
    gets SIGTERM too if this process dies without a word (SIGKILL): it never outlives us."""
    with log_path.open("ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "imagen.cli", "worker"], env=env, stdout=log, stderr=log,
                                preexec_fn=die_with_parent())  # fmt: skip
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def supabase_worker_env(supabase_url: str, service_role_key: str, model: str, **settings: object) -> dict:
    """A worker box's environment: the supabase transport, the project URL and the service role."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGEN_", "DATABASE_URL", "SUPABASE_"))}
    env |= {
        "IMAGEN_TRANSPORT": "supabase",
        "SUPABASE_URL": supabase_url,
        "SUPABASE_SERVICE_ROLE_KEY": service_role_key,
        "IMAGEN_MODEL": model,
        "HF_HUB_OFFLINE": "1",
        "IMAGEN_CLAIM_MODELS": "*",
    }  # fmt: skip  one tiny pipeline renders every try
    env.update({f"IMAGEN_{k.upper()}": str(v) for k, v in settings.items()})
    return env


def run_web_demo(port: int, out: Path, verbose: bool = False) -> int:
    from imagen.db.migrate import migrate
    from imagen.dev.embedded_postgres import EmbeddedPostgres
    from imagen.dev.supabase_standin import SupabaseStandIn
    from imagen.dev.tiny_models import tiny_path

    if not verbose:  # the terminal is for the URL; every request's and migration's line only with -v
        for chatty in ("aiohttp.access", "imagen.db.migrate"):
            logging.getLogger(chatty).setLevel(logging.WARNING)
    out.mkdir(parents=True, exist_ok=True)
    print("demo --web: building the web app (once per change of web/)")
    dist = build_web()
    with EmbeddedPostgres() as pg:
        migrate(pg.url())
        print(f"demo --web: PostgreSQL on 127.0.0.1:{pg.port}, migrated")
        with SupabaseStandIn(pg.url(), admin_url=pg.admin_url()) as gateway:
            env = supabase_worker_env(gateway.url, gateway.keys.service_role, str(tiny_path("tiny")),
                                      poll_interval=0.5)  # fmt: skip
            with worker_process(env, out / "worker.log"), StaticSite(dist, web_config(gateway.url, gateway.keys.anon),
                                                                     port) as site:  # fmt: skip
                print(f"demo --web: Supabase stand-ins at {gateway.url}; worker log {out / 'worker.log'}")
                print(f"demo --web: Auth's mail (confirmation and password links) lands in {gateway.inbox_url}")
                print("Ctrl-C (or SIGTERM) stops it all.")
                print(f"\n  open {site.url} — sign up with any email and a 6+ character password\n", flush=True)
                try:
                    # Until a signal unwinds every `with` above (in slices: an untimed wait never saw a
                    # signal the kernel handed another thread; the SIGTERM test hung).
                    wait_event(threading.Event(), None)
                except Stopped as stop:
                    print(f"demo --web: {stop} received, stopping", flush=True)
    return 0
