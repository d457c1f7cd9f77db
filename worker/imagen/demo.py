"""`imagen demo`: the whole flow on one machine, nothing to configure.

A throwaway PostgreSQL (or DATABASE_URL), the migrations, a demo user who creates a series the
way the frontend does, the worker draining the queue with progress bars, a table of the tries,
a contact sheet, a winner, and the flat gallery that hides the series members.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

import psycopg
from pydantic import SecretStr

from imagen.cli import pick_winner, write_sheet
from imagen.config import Settings
from imagen.embedded_postgres import EmbeddedPostgres
from imagen.migrate import migrate
from imagen.progress import TryBars
from imagen.render import Renderer
from imagen.series_report import series_tries, tries_table
from imagen.transports import open_transport
from imagen.user_session import as_user, ensure_user
from imagen.worker import Worker

PROMPT = "a lighthouse on a cliff at dusk, warm light, long exposure"


def run_demo(settings: Settings, n: int, out: Path) -> int:
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if settings.database_url is not None:
            print("demo: using DATABASE_URL")
        else:
            pg = stack.enter_context(EmbeddedPostgres())
            settings = settings.model_copy(update={"database_url": SecretStr(pg.url())})
            print(f"demo: started a throwaway PostgreSQL on 127.0.0.1:{pg.port}")
        url = settings.require_database_url()
        applied = migrate(url)
        print(f"demo: {len(applied)} migrations applied")

        renderer = Renderer(settings.model, settings.device, settings.dtype, settings.compile)
        size = 256 if settings.model.startswith("tiny") else 1024
        with psycopg.connect(url, autocommit=True) as conn:
            user = ensure_user(conn, "demo@imagen.local")
            # As the frontend does: role authenticated with the user's JWT claims.
            with as_user(conn, user):
                series = conn.execute(
                    "select imagen.create_series(%s, %s, model => %s, width => %s, height => %s, seed => %s)",
                    (PROMPT, n, settings.model, size, size, 42),
                ).fetchone()[0]
                conn.execute("select imagen.submit_job(%s, model => %s, width => %s, height => %s)",
                             ("a solo sketch of a gull", settings.model, size, size))  # fmt: skip
            print(f"demo: user {user} created series {series['id']} with {n} tries, and one solo try\n")

            # Progress bars tell the story here; the worker's per-try log lines would interleave.
            logging.getLogger("imagen.worker").setLevel(logging.WARNING)
            queue, storage = open_transport(settings)
            bars = TryBars([(i, series["steps"]) for i in range(1, n + 1)])
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
            sheet = write_sheet(conn, series["id"], settings.storage_dir, out / "sheet.png")
            print(f"\ndemo: try 1 picked as the winner; contact sheet: {sheet}")
            print(f"demo: pictures under {settings.storage_dir}/{user}/")
            with as_user(conn, user):
                flat = conn.execute("select count(*) from imagen.images where series_id is null").fetchone()[0]
                total = conn.execute("select count(*) from imagen.images").fetchone()[0]
            print(f"demo: the flat gallery shows {flat} of {total} pictures (the series is one card)")
    print(f"demo: done in {time.perf_counter() - started:.1f}s")
    return 0
