"""The `imagen` command line: the worker, the database, and a few commands for people."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import uuid
from pathlib import Path

import psycopg

from imagen import migrate as migrate_mod
from imagen.config import ConfigError, Settings, load_settings
from imagen.render import ModelLoadError

log = logging.getLogger("imagen")


def connect_database(settings: Settings | None = None) -> psycopg.Connection:
    """The configured database, for the commands people run (acting as users through RLS)."""
    return psycopg.connect((settings or load_settings()).require_database_url(), autocommit=True)


def cmd_db_migrate(args: argparse.Namespace) -> int:
    url = args.database_url or load_settings().require_database_url()
    applied = migrate_mod.migrate(url, args.migrations_dir)
    for m in applied:
        print(f"applied {m.version}_{m.name}")
    if not applied:
        print("database is up to date")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from imagen.render import Renderer
    from imagen.transports import open_transport
    from imagen.worker import Worker

    settings = load_settings(transport=args.transport, model=args.model)
    queue, storage = open_transport(settings)
    try:
        renderer = Renderer(settings.model, settings.device, settings.dtype, settings.compile)
        worker = Worker(
            queue,
            storage,
            renderer,
            poll_interval=settings.poll_interval,
            heartbeat_interval=settings.heartbeat_interval,
        )
        worker.install_signal_handlers()
        log.info("worker %s ready transport=%s burst=%s", settings.worker_id, settings.transport, args.burst)
        stats = worker.run(burst=args.burst)
        log.info("worker stopped %s", stats)
    finally:
        queue.close()
    return 0


def find_user(conn: psycopg.Connection, who: str) -> uuid.UUID:
    row = conn.execute("select id from auth.users where id::text = %s or email = %s", (who, who)).fetchone()
    if row is None:
        raise ConfigError(f"--user {who!r}: no such user in auth.users (give an email or a user id)")
    return row[0]


def cmd_submit(args: argparse.Namespace) -> int:
    from imagen.user_session import as_user

    with connect_database() as conn:
        user = find_user(conn, args.user)
        settings = {k: v for k in ("model", "width", "height", "steps", "style", "seed") if (v := getattr(args, k))}
        names = "".join(f", {k} => %({k})s" for k in settings)
        with as_user(conn, user):
            series = conn.execute(
                f"select imagen.create_series(%(prompt)s, %(n)s{names})",
                {"prompt": args.prompt, "n": args.n, **settings},
            ).fetchone()[0]
        print(f"series {series['id']}: {args.n} tries queued")
        if args.wait:
            watch_series(conn, series["id"])
    return 0


def watch_series(conn: psycopg.Connection, series_id: str) -> list[dict]:
    from imagen.progress import TryBars
    from imagen.series_report import series_tries, tries_table

    tries = series_tries(conn, series_id)
    bars = TryBars([(t["series_idx"], t["steps"]) for t in tries])
    try:
        while True:
            tries = series_tries(conn, series_id)
            for t in tries:
                step = t["steps"] if t["status"] == "done" else t["progress"]
                bars.update(t["series_idx"], step, t["status"])
            if all(t["status"] in ("done", "failed", "cancelled") for t in tries):
                break
            time.sleep(0.2)
    finally:
        bars.close()
    print(tries_table(tries))
    return tries


def cmd_status(args: argparse.Namespace) -> int:
    from imagen.series_report import format_table, recent_series, series_tries, tries_table

    with connect_database() as conn:
        if args.series:
            print(tries_table(series_tries(conn, args.series)))
        else:
            rows = recent_series(conn)
            print(format_table(rows, [("series", "id"), ("tries", "count"), ("done", "done"),
                                      ("pending", "pending"), ("prompt", "prompt")]))  # fmt: skip
    return 0


def pick_winner(conn: psycopg.Connection, series_id: str, index: int) -> dict:
    """Sets try `index` as the winner, as the series' owner (RLS and the winner FK apply)."""
    from imagen.user_session import as_user

    row = conn.execute(
        "select s.owner_id, j.image_id from imagen.series s"
        " left join imagen.jobs j on j.series_id = s.id and j.series_idx = %s where s.id = %s",
        (index, series_id),
    ).fetchone()
    if row is None:
        raise LookupError(f"series {series_id} not found")
    if row[1] is None:
        raise LookupError(f"series {series_id} has no finished try {index}")
    with as_user(conn, row[0]):
        return conn.execute("select to_jsonb(imagen.select_image(%s, %s))", (series_id, row[1])).fetchone()[0]


def cmd_pick(args: argparse.Namespace) -> int:
    with connect_database() as conn:
        pick_winner(conn, args.series, args.index)
    print(f"series {args.series}: try {args.index} is the winner")
    return 0


def write_sheet(conn: psycopg.Connection, series_id: str, storage_dir: Path, out: Path) -> Path:
    from imagen.series_report import series_tries
    from imagen.sheet import contact_sheet
    from imagen.storage import LocalStorage

    storage = LocalStorage(storage_dir)
    tries = series_tries(conn, series_id)
    for t in tries:
        t["png"] = storage.read(t["path"]) if t["path"] else None
    out.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(tries).save(out)
    return out


def cmd_sheet(args: argparse.Namespace) -> int:
    settings = load_settings()
    with connect_database(settings) as conn:
        out = write_sheet(conn, args.series, settings.storage_dir, args.output)
    print(f"contact sheet written to {out}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from imagen.demo import run_demo

    # The demo runs anywhere: the tiny model unless a real one is asked for.
    model = args.model or os.environ.get("IMAGEN_MODEL") or "tiny"
    return run_demo(load_settings(model=model, storage_dir=args.out / "images"), args.n, args.out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imagen", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="database commands").add_subparsers(dest="db_command", required=True)
    p = db.add_parser("migrate", help="bootstrap (plain Postgres only) and apply the migrations")
    p.add_argument("--database-url", help="postgres URL (default: IMAGEN_DATABASE_URL or DATABASE_URL)")
    p.add_argument("--migrations-dir", type=Path, default=migrate_mod.DEFAULT_MIGRATIONS_DIR)
    p.set_defaults(func=cmd_db_migrate)

    p = sub.add_parser("worker", help="render queued tries until stopped")
    p.add_argument("--burst", action="store_true", help="drain the queue, then exit")
    p.add_argument("--transport", help="postgres or supabase (default: IMAGEN_TRANSPORT or postgres)")
    p.add_argument("--model", help="hub id, local pipeline folder, or tiny / tiny-sdxl (default: IMAGEN_MODEL)")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("submit", help="create a series as a user")
    p.add_argument("prompt")
    p.add_argument("-n", type=int, default=4, help="number of tries, 1..10")
    p.add_argument("--user", required=True, help="email or id of the user in auth.users")
    p.add_argument("--model")
    p.add_argument("--width", type=int)
    p.add_argument("--height", type=int)
    p.add_argument("--steps", type=int)
    p.add_argument("--style")
    p.add_argument("--seed", type=int)
    p.add_argument("--wait", action="store_true", help="show progress until every try has finished")
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("status", help="recent series, or the tries of one")
    p.add_argument("series", nargs="?")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("pick", help="make try INDEX the winner of SERIES")
    p.add_argument("series")
    p.add_argument("index", type=int)
    p.set_defaults(func=cmd_pick)

    p = sub.add_parser("sheet", help="write a contact sheet of a series")
    p.add_argument("series")
    p.add_argument("-o", "--output", type=Path, default=Path("sheet.png"))
    p.set_defaults(func=cmd_sheet)

    p = sub.add_parser("demo", help="render a series end to end on an embedded database")
    p.add_argument("-n", type=int, default=4, help="tries in the demo series")
    p.add_argument("--model", help="default: tiny (no download); IMAGEN_MODEL picks a real one")
    p.add_argument("--out", type=Path, default=Path("out/demo"), help="where pictures and the sheet go")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    for noisy in ("httpx", "httpcore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return args.func(args)
    except (ConfigError, ModelLoadError, LookupError) as exc:
        print(f"imagen: {exc}", file=sys.stderr)
        return 2
    except psycopg.OperationalError as exc:
        print(f"imagen: cannot reach the database: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 2
    except psycopg.Error as exc:
        print(f"imagen: {exc.diag.message_primary or exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
