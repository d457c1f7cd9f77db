"""Where the tests' PostgreSQL comes from, and per-test databases cloned from a migrated template.

Order of preference: TEST_DATABASE_URL; a `supabase/postgres` container when a Docker engine
answers and the image is already present; otherwise a throwaway local cluster.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

from imagen.db.migrate import bootstrap
from imagen.dev.embedded_postgres import EmbeddedPostgres

REPO_ROOT = Path(__file__).resolve().parents[1]
SUPABASE_CLI = REPO_ROOT / "tools" / "supabase" / "node_modules" / ".bin" / "supabase"
SUPABASE_IMAGE = "supabase/postgres:15.8.1.085"
EXPOSED_SCHEMAS = "public, graphql_public, imagen"


def with_dbname(url: str, dbname: str) -> str:
    """The same server, another database, as a postgresql:// URI (psql, pg_prove and the CLI take it)."""
    p = conninfo_to_dict(url)
    auth = p.get("user", "postgres") + (f":{p['password']}" if p.get("password") else "")
    return f"postgresql://{auth}@{p.get('host', '127.0.0.1')}:{p.get('port', 5432)}/{dbname}"


def as_cli_url(url: str) -> str:
    """The Supabase CLI wants sslmode=disable against a local server."""
    return with_dbname(url, conninfo_to_dict(url)["dbname"]) + "?sslmode=disable"


def supabase(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(SUPABASE_CLI), "--workdir", str(REPO_ROOT), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "DO_NOT_TRACK": "1"},
        timeout=300,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"supabase {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def docker_image_present(image: str) -> bool:
    try:
        result = subprocess.run(["docker", "image", "inspect", image], capture_output=True, timeout=10, check=False)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


@contextlib.contextmanager
def postgres_server() -> Iterator[tuple[str, EmbeddedPostgres | None]]:
    """Yields (admin URL, the embedded cluster if one was started)."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        yield url, None
    elif docker_image_present(SUPABASE_IMAGE):
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer(SUPABASE_IMAGE, username="postgres", password="postgres") as c:
            yield c.get_connection_url(driver=None), None
    else:
        with EmbeddedPostgres() as pg:
            yield pg.url(), pg


def migrate_with_supabase_cli(url: str) -> None:
    """Bootstrap (plain Postgres only), then the real Supabase CLI applies supabase/migrations."""
    with psycopg.connect(url, autocommit=True) as conn:
        bootstrap(conn)
    supabase("migration", "up", "--db-url", as_cli_url(url))


class DatabaseFactory:
    """Creates a migrated template once; hands out clones of it (tens of ms each)."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.template = f"imagen_template_{os.getpid()}"
        self._counter = itertools.count()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{self.template}" with (force)')
            conn.execute(f'create database "{self.template}"')
        template_url = with_dbname(admin_url, self.template)
        migrate_with_supabase_cli(template_url)
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'alter database "{self.template}" with allow_connections false')

    def create(self, prefix: str = "t") -> str:
        name = f"{prefix}_{os.getpid()}_{next(self._counter)}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'create database "{name}" template "{self.template}"')
            # As on a hosted project with imagen in the API; the advisors read this setting,
            # and per-database settings are not copied from a template.
            conn.execute(f"alter database \"{name}\" set pgrst.db_schemas = '{EXPOSED_SCHEMAS}'")
        return with_dbname(self.admin_url, name)

    def create_empty(self, prefix: str = "e") -> str:
        name = f"{prefix}_{os.getpid()}_{next(self._counter)}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'create database "{name}"')
        return with_dbname(self.admin_url, name)

    def drop(self, url: str) -> None:
        name = conninfo_to_dict(url)["dbname"]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')

    def close(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{self.template}" with (force)')
