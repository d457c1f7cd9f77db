"""`imagen demo --web`: the web app on one machine with nothing to configure. The embedded
PostgreSQL with the migrations, the Supabase STAND-INS (Auth, PostgREST, Realtime, Storage) as
the local gateway, a real `imagen worker` process on the tiny model, and the built web app
served with a config.json that names the gateway and its anon key. Prints the URL; Ctrl-C stops
it all. The browser tests start the same pieces (tests/test_web_app.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from aiohttp import web

from imagen.signals import Stopped, die_with_parent

WEB_DIR = Path(__file__).resolve().parents[3] / "web"


def build_web(out_dir: Path | None = None, web_dir: Path = WEB_DIR) -> Path:
    """`vite build` of the web app (its npm dependencies installed by scripts/setup)."""
    out = out_dir or web_dir / "dist"
    if not (web_dir / "node_modules").is_dir():
        raise RuntimeError(f"{web_dir}/node_modules is missing: run scripts/setup (it runs npm ci there)")
    subprocess.run(["npx", "vite", "build", "--outDir", str(out), "--emptyOutDir"], cwd=web_dir, check=True,
                   capture_output=True, text=True)  # fmt: skip
    return out


class StaticSite:
    """The built app on 127.0.0.1 (a static host, as any would serve it) with its config.json."""

    def __init__(self, dist: Path, config: dict, port: int = 0) -> None:
        self.dist, self.config, self.port = dist, config, port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="imagen-web", daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _config(self, _request: web.Request) -> web.Response:
        return web.json_response(self.config, headers={"Cache-Control": "no-store"})

    async def _index(self, _request: web.Request) -> web.FileResponse:
        return web.FileResponse(self.dist / "index.html")

    async def _start(self) -> None:
        app = web.Application()
        app.add_routes([web.get("/config.json", self._config), web.get("/", self._index)])
        app.router.add_static("/", self.dist)
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
    env |= {"IMAGEN_TRANSPORT": "supabase", "SUPABASE_URL": supabase_url,
            "SUPABASE_SERVICE_ROLE_KEY": service_role_key, "IMAGEN_MODEL": model, "HF_HUB_OFFLINE": "1"}  # fmt: skip
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
    print("demo --web: building the web app")
    dist = build_web(out / "web")
    with EmbeddedPostgres() as pg:
        migrate(pg.url())
        print(f"demo --web: PostgreSQL on 127.0.0.1:{pg.port}, migrated")
        with SupabaseStandIn(pg.url(), admin_url=pg.admin_url()) as gateway:
            env = supabase_worker_env(gateway.url, gateway.keys.service_role, str(tiny_path("tiny", out / "models")),
                                      poll_interval=0.5)  # fmt: skip
            with worker_process(env, out / "worker.log"), StaticSite(dist, web_config(gateway.url, gateway.keys.anon),
                                                                     port) as site:  # fmt: skip
                print(f"demo --web: Supabase stand-ins at {gateway.url}; worker log {out / 'worker.log'}")
                print("Ctrl-C (or SIGTERM) stops it all.")
                print(f"\n  open {site.url} — sign up with any email and a 6+ character password\n", flush=True)
                try:
                    threading.Event().wait()  # until a signal unwinds every `with` above
                except Stopped as stop:
                    print(f"demo --web: {stop} received, stopping", flush=True)
    shutil.rmtree(out / "web", ignore_errors=True)
    return 0
