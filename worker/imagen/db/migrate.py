"""Brings a database to the current schema: Supabase bootstrap where needed, then migrations.

Applied migrations are recorded in supabase_migrations.schema_migrations, the table the Supabase
CLI uses, so `supabase migration list` and `supabase db push` agree with what ran here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import psycopg

from imagen.config import ConfigError

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
# A link to supabase/migrations in a checkout; the files themselves in an installed wheel.
DEFAULT_MIGRATIONS_DIR = HERE / "migrations"

HISTORY_TABLE = """
create schema if not exists supabase_migrations;
create table if not exists supabase_migrations.schema_migrations (
  version text primary key,
  statements text[],
  name text
);
"""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path

    @classmethod
    def from_path(cls, path: Path) -> Migration:
        version, _, name = path.stem.partition("_")
        if not (version.isdigit() and len(version) == 14 and name):
            raise ValueError(f"migration file name must be YYYYMMDDHHMMSS_name.sql, got {path.name}")
        return cls(version, name, path)


def bootstrap_sql() -> str:
    return (HERE / "bootstrap.sql").read_text()


def list_migrations(migrations_dir: Path | None = None) -> list[Migration]:
    migrations_dir = migrations_dir or DEFAULT_MIGRATIONS_DIR
    if not migrations_dir.is_dir():
        raise ConfigError(f"migrations folder not found: {migrations_dir}")
    return [Migration.from_path(p) for p in sorted(migrations_dir.glob("*.sql"))]


def bootstrap(conn: psycopg.Connection) -> None:
    """Creates the Supabase roles and schemas a plain Postgres lacks (a no-op on Supabase)."""
    with conn.transaction():
        conn.execute(bootstrap_sql())


def apply_migrations(conn: psycopg.Connection, migrations_dir: Path | None = None) -> list[Migration]:
    """Applies pending migrations in order, each in its own transaction; returns those applied."""
    migrations = list_migrations(migrations_dir)
    with conn.transaction():
        conn.execute(HISTORY_TABLE)
    done = {row[0] for row in conn.execute("select version from supabase_migrations.schema_migrations")}
    applied = []
    for migration in migrations:
        if migration.version in done:
            continue
        sql = migration.path.read_text()
        with conn.transaction():
            conn.execute(sql)
            conn.execute(
                "insert into supabase_migrations.schema_migrations (version, statements, name) values (%s, %s, %s)",
                (migration.version, [sql], migration.name),
            )
        log.info("applied migration %s_%s", migration.version, migration.name)
        applied.append(migration)
    return applied


def migrate(database_url: str, migrations_dir: Path | None = None) -> list[Migration]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        bootstrap(conn)
        return apply_migrations(conn, migrations_dir)
