"""`imagen demo`: the whole flow on one machine, nothing to configure.

A throwaway PostgreSQL, the migrations, a demo user who creates a series the way the frontend
does, the worker draining the queue with progress bars, a table of the tries, a contact sheet, a
winner, and the flat gallery that hides the series members. It always runs on this embedded
default: a worker box's IMAGEN_TRANSPORT or DATABASE_URL (production!) is never touched. Only
the model settings (IMAGEN_MODEL, IMAGEN_DEVICE, IMAGEN_DTYPE) are taken from the environment.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from imagen.config import load_settings
from imagen.console.progress import TryBars
from imagen.console.report import series_tries, tries_table
from imagen.console.series import create_series, pick_winner, write_sheet
from imagen.console.users import as_user, ensure_user
from imagen.db.migrate import migrate
from imagen.dev.embedded_postgres import EmbeddedPostgres
from imagen.loop.worker import Worker
from imagen.rendering.render import DiffusersRenderer
from imagen.transports import open_transport

PROMPT = "a lighthouse on a cliff at dusk, warm light, long exposure"


def cmd_demo(args) -> int:
    """`imagen demo`, registered as the imagen.commands entry point 'demo' (the CLI does not import dev)."""
    if args.web:
        from imagen.dev.web_stack import run_web_demo

        return run_web_demo(args.port, args.out, verbose=args.verbose)
    return run_demo(args.n, args.out, model=args.model)


def run_demo(n: int, out: Path, model: str | None = None) -> int:
    started = time.perf_counter()
    with EmbeddedPostgres() as pg:
        print(f"demo: started a throwaway PostgreSQL on 127.0.0.1:{pg.port}")
        settings = load_settings(
            transport="postgres",
            database_url=pg.url(),
            storage_dir=out / "images",
            # The tiny model unless a real one is asked for: the demo runs anywhere.
            model=model or os.environ.get("IMAGEN_MODEL") or "tiny",
        )
        applied = migrate(pg.url())
        print(f"demo: {len(applied)} migrations applied")

        renderer = DiffusersRenderer(settings.model, settings.device, settings.dtype, settings.compile)
        size = 256 if settings.model.startswith("tiny") else 1024
        with psycopg.connect(pg.url(), autocommit=True) as conn:
            user = ensure_user(conn, "demo@imagen.local")
            # As the frontend does: role authenticated with the user's JWT claims.
            series = create_series(conn, user, PROMPT, n, model=settings.model, width=size, height=size, seed=42)
            with as_user(conn, user):
                solo = {"model": settings.model, "width": size, "height": size}
                conn.execute("select imagen.submit_job(%s, %s)", ("a solo sketch of a gull", Jsonb(solo)))
            print(f"demo: user {user} created series {series['id']} with {n} tries, and one solo try\n")

            # Progress bars tell the story here; the worker's per-try log lines would interleave.
            logging.getLogger("imagen.loop").setLevel(logging.WARNING)
            queue, storage = open_transport(settings)
            bars = TryBars([(i, series["settings"]["steps"]) for i in range(1, n + 1)])
            worker = Worker(
                queue,
                storage,
                renderer,
                poll_interval=settings.poll_interval,
                on_progress=lambda job, step: bars.update(job.series_idx, step),
            )
            try:
                worker.run(burst=True)
            finally:
                bars.close()
                queue.close()

            print()
            print(tries_table(series_tries(conn, series["id"])))
            pick_winner(conn, series["id"], 1)
            sheet = write_sheet(conn, series["id"], storage, out / "sheet.png")
            print(f"\ndemo: try 1 picked as the winner; contact sheet: {sheet}")
            print(f"demo: pictures under {settings.storage_dir}/{user}/")
            with as_user(conn, user):
                flat = conn.execute("select count(*) from imagen.images where series_id is null").fetchone()[0]
                total = conn.execute("select count(*) from imagen.images").fetchone()[0]
            print(f"demo: the flat gallery shows {flat} of {total} pictures (the series is one card)")
    print(f"demo: done in {time.perf_counter() - started:.1f}s")
    return 0
