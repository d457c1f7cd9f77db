"""The `imagen` command line."""

from __future__ import annotations

import argparse
import logging
import sys

import psycopg

from imagen import migrate as migrate_mod
from imagen.config import Settings


def cmd_db_migrate(args: argparse.Namespace, settings: Settings) -> int:
    url = args.database_url or (settings.database_url and settings.database_url.get_secret_value())
    if not url:
        raise SystemExit("imagen db migrate: set --database-url or DATABASE_URL")
    applied = migrate_mod.migrate(url, args.migrations_dir)
    if applied:
        for m in applied:
            print(f"applied {m.version}_{m.name}")
    else:
        print("database is up to date")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from imagen.demo import run_demo

    return run_demo(settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imagen", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="database commands").add_subparsers(dest="db_command", required=True)
    mig = db.add_parser("migrate", help="bootstrap (plain Postgres only) and apply the migrations")
    mig.add_argument("--database-url", help="postgres URL (default: DATABASE_URL)")
    mig.add_argument("--migrations-dir", type=migrate_mod.Path, default=migrate_mod.DEFAULT_MIGRATIONS_DIR)
    mig.set_defaults(func=cmd_db_migrate)

    demo = sub.add_parser("demo", help="create a series on an embedded database and render it")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        settings = Settings()
        return args.func(args, settings)
    except (psycopg.OperationalError, FileNotFoundError, ValueError) as exc:
        print(f"imagen: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
