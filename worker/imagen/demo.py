"""`imagen demo`: the whole flow on one machine, with nothing to configure."""

from __future__ import annotations

import contextlib
import json

import psycopg

from imagen.config import Settings
from imagen.embedded_postgres import EmbeddedPostgres
from imagen.migrate import migrate
from imagen.user_session import as_user, ensure_user


def run_demo(settings: Settings) -> int:
    with contextlib.ExitStack() as stack:
        if settings.database_url is not None:
            url = settings.database_url.get_secret_value()
            print("demo: using DATABASE_URL")
        else:
            pg = stack.enter_context(EmbeddedPostgres())
            url = pg.url()
            print(f"demo: started a throwaway PostgreSQL on 127.0.0.1:{pg.port}")
        applied = migrate(url)
        print(f"demo: applied {len(applied)} migrations")
        with psycopg.connect(url, autocommit=True) as conn:
            user_id = ensure_user(conn, "demo@imagen.local")
            with as_user(conn, user_id):
                series = conn.execute(
                    "select imagen.create_series(%s, %s, seed => %s)", ("a lighthouse at dusk", 4, 42)
                ).fetchone()[0]
            print(f"demo: user {user_id} created series {series['id']}:")
            print(json.dumps(series, indent=2))
            rows = conn.execute(
                "select series_idx, seed, status from imagen.jobs where series_id = %s order by series_idx",
                (series["id"],),
            ).fetchall()
            for idx, seed, status in rows:
                print(f"  try {idx}: seed {seed} {status}")
    return 0
