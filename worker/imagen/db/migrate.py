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


# What a hosted project has before any migration runs: if all of it is here, the platform's part
# is done (always so on Supabase) and nothing needs a superuser.
PLATFORM_PRESENT = """
select to_regclass('auth.users') is not null
   and to_regclass('storage.objects') is not null
   and to_regprocedure('auth.uid()') is not null
   and exists (select from pg_roles where rolname = 'authenticator')
   and exists (select from pg_publication where pubname = 'supabase_realtime')
"""


def platform_present(conn: psycopg.Connection) -> bool:
    return conn.execute(PLATFORM_PRESENT).fetchone()[0]


def platform_bootstrap(conn: psycopg.Connection) -> None:
    """Runs bootstrap.sql: the platform's roles and schemas. Needs the cluster's superuser."""
    with conn.transaction():
        conn.execute(bootstrap_sql())


def bootstrap(conn: psycopg.Connection) -> bool:
    """Makes sure the Supabase roles and schemas are there; True if it had to create them.

    A no-op on Supabase and on a database the platform bootstrap already ran on. Otherwise it
    needs a superuser, as the platform's part does: as `postgres` on a plain server it says so."""
    if platform_present(conn):
        return False
    is_superuser = conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone()[0]
    if not is_superuser:
        raise ConfigError(
            "this database lacks the Supabase roles and schemas (auth, storage, ...), and creating "
            "them needs a superuser: run `imagen db migrate` once as the cluster's superuser "
            "(supabase_admin), or run worker/imagen/db/bootstrap.sql as it"
        )
    platform_bootstrap(conn)
    return True


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
