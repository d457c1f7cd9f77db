"""The `imagen` command line: parses arguments and dispatches to the worker, the database, the
console commands for people, and the demo."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import uuid
from pathlib import Path

import psycopg

from imagen import signals
from imagen.config import ConfigError, Settings, load_settings
from imagen.console.report import printable
from imagen.console.settings_rules import SETTINGS_RULES
from imagen.errors import BadArgument, TooManyUnfinished
from imagen.jobs import TryStatus
from imagen.transports.rpcs import APPLY_MIGRATIONS, UNMIGRATED_CODES

# imagen submit's options: every published setting but n (-n), the prompt and a variation's strength.
# `imagen submit`'s options: the settings a new series (kind generate) takes, beside its prompt.
SERIES_SETTINGS = [
    field for field, rule in sorted(SETTINGS_RULES.items(), key=lambda item: item[1]["position"])
    if rule["part"] == "settings" and field != "prompt" and (rule["kinds"] is None or "generate" in rule["kinds"])
]  # fmt: skip
OPTION_TYPES = {"integer": int, "decimal": float}


def series_id(text: str) -> str:
    """A series id as people paste it, checked here so that a typo is named, not a SQL error."""
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise BadArgument(f"series id must be a UUID like 0f6c2b1e-8d3a-4c5f-9e7b-2a1d4c6e8f90, got {text!r}") from None


def connect_database(settings: Settings | None = None) -> psycopg.Connection:
    """The configured database, for the commands people run (acting as users through RLS)."""
    return psycopg.connect((settings or load_settings()).require_database_url(), autocommit=True)


def cmd_db_migrate(args: argparse.Namespace) -> int:
    from imagen.db.migrate import migrate

    url = args.database_url or load_settings().require_database_url()
    applied = migrate(url, args.migrations_dir)
    for m in applied:
        print(f"applied {m.version}_{m.name}")
    if not applied:
        print("database is up to date")
    return 0


def cmd_db_autoscaler_login(args: argparse.Namespace) -> int:
    from imagen.db.autoscaler import AUTOSCALER_ROLE, enable_autoscaler_login

    password = os.environ.get("IMAGEN_AUTOSCALER_PASSWORD", "")
    if not password:
        raise ConfigError("set IMAGEN_AUTOSCALER_PASSWORD to the password the autoscaler will log in with")
    url = args.database_url or load_settings().require_database_url()
    with psycopg.connect(url, autocommit=True) as conn:
        enable_autoscaler_login(conn, password)
    print(f"{AUTOSCALER_ROLE} may log in; its query: select imagen.queue_depth()")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from imagen.monitoring.log_format import use_log_format
    from imagen.serve import serve

    settings = load_settings(transport=args.transport, model=args.model)
    use_log_format(settings)  # IMAGEN_LOG_FORMAT=json: JSON lines from here on
    serve(settings, burst=args.burst)
    # Stopped, with every try settled and every connection closed. Python's own teardown of torch
    # and diffusers would take another second or more (measured 1.3 s), which a supervisor
    # waiting for the exit counts against the stop: flush and leave now.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def cmd_webhooks(args: argparse.Namespace) -> int:
    from imagen.webhooks.deliverer import Deliverer

    settings = load_settings()
    deliverer = Deliverer(
        settings.require_database_url(),
        timeout=settings.webhook_timeout,
        threads=settings.webhook_threads,
        poll_interval=settings.poll_interval,
        allow_private_addresses=settings.webhook_allow_private_addresses,
    )
    # Stop claiming on SIGINT/SIGTERM; deliveries in flight finish (or are handed back by their lease).
    with signals.on_stop(lambda _signum: deliverer.stop()):
        deliverer.run()
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from imagen.console.progress_feed import open_feed
    from imagen.console.series import create_series, find_user, watch_series

    settings = load_settings()
    with connect_database(settings) as conn:
        user = find_user(conn, args.user)
        options = {k: getattr(args, k) for k in SERIES_SETTINGS}
        series = create_series(conn, user, args.prompt, args.n, **options)
        print(f"series {series['id']}: {series['count']} tries queued")
        if args.wait:
            feed = open_feed(settings, series["id"])
            try:
                watch_series(conn, series["id"], feed)
            finally:
                feed.close()
    return 0


def cmd_vary(args: argparse.Namespace) -> int:
    from imagen.console.children import vary_try

    with connect_database() as conn:
        series = vary_try(conn, args.series, args.index, args.n, args.strength, args.seed)
    print(
        f"series {series['id']}: {series['count']} variations of try {args.index} queued"
        f" (strength {series['settings']['strength']} %)"
    )
    return 0


def cmd_upscale(args: argparse.Namespace) -> int:
    from imagen.console.children import from_picture

    with connect_database() as conn:
        series = from_picture(conn, "upscale", args.series, args.index, args.n,
                              {"factor": args.factor, "refine": args.refine, "seed": args.seed})  # fmt: skip
    size = f"{series['settings']['width']}x{series['settings']['height']}"
    print(f"series {series['id']}: {series['count']} upscales of try {args.index} to {size} queued")
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    from imagen.console.children import edit_try
    from imagen.transports import open_storage

    settings = load_settings()
    with connect_database(settings) as conn, open_storage(settings) as storage:
        series = edit_try(conn, storage, args.series, args.index, args.mask, args.n, args.prompt, args.seed)
    print(f"series {series['id']}: {series['count']} edits of try {args.index} queued")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from imagen.console.liveness import no_worker_notice
    from imagen.console.report import recent_series_table, series_tries, tries_table

    settings = load_settings()
    with connect_database(settings) as conn:
        notice = no_worker_notice(conn)
        if not args.series:
            print(recent_series_table(conn))
        else:
            tries = series_tries(conn, args.series)
            if any(t["status"] == TryStatus.RUNNING for t in tries):
                tries = running_steps(settings, conn, args.series)
            print(tries_table(tries, expected_starts=notice is None))
        if notice:
            print(f"\n{notice}")
    return 0


def running_steps(settings: Settings, conn: psycopg.Connection, series_id: str) -> list[dict]:
    """The tries, with the step each running one reaches in the next second (from the events)."""
    from imagen.console.progress_feed import latest_steps, open_feed
    from imagen.console.report import series_tries
    from imagen.console.series import with_steps_heard

    feed = open_feed(settings, series_id)
    try:
        heard = latest_steps(feed.poll(1.0))
    finally:
        feed.close()
    return with_steps_heard(series_tries(conn, series_id), heard)


def cmd_queue(args: argparse.Namespace) -> int:
    from imagen.console.fleet import overview_text, queue_overview

    with connect_database() as conn:
        view = queue_overview(conn, args.top, args.emails)
    print(json.dumps(view, indent=2) if args.json else overview_text(view))
    return 0


def cmd_pick(args: argparse.Namespace) -> int:
    from imagen.console.series import pick_winner

    with connect_database() as conn:
        pick_winner(conn, args.series, args.index)
    print(f"series {args.series}: try {args.index} is the winner")
    return 0


def cmd_sheet(args: argparse.Namespace) -> int:
    from imagen.console.series import write_sheet
    from imagen.transports import open_storage

    settings = load_settings()
    with connect_database(settings) as conn, open_storage(settings) as storage:
        out = write_sheet(conn, args.series, storage, args.output)
    print(f"contact sheet written to {out}")
    return 0


def cmd_users_add(args: argparse.Namespace) -> int:
    from imagen.console.users import add_local_user

    with connect_database() as conn:
        user = add_local_user(conn, args.email)
    print(f"user {args.email}: {user}")
    return 0


def cmd_dev_tool(args: argparse.Namespace) -> int:
    """`imagen demo` and `imagen dev`: development code (imagen.dev), reached through its entry
    point of the same name, not an import."""
    from imagen.plugins import COMMANDS, plugin

    if (tool := plugin(COMMANDS, args.command)) is None:
        print(f"imagen {args.command}: the development tools are not installed (entry point {args.command!r})",
              file=sys.stderr)  # fmt: skip
        return 2
    return tool(args)


def setting_help(field: str) -> str:
    """A published setting's rule and default, as the database states them (imagen.settings_rules)."""
    rule = SETTINGS_RULES[field]
    return rule["rule"] + (f" (default: {rule['default_value']})" if rule["default_value"] else "")


def add_setting_option(parser: argparse.ArgumentParser, field: str) -> None:
    """--FIELD for a published setting, typed by its rule's kind (a choice offers its choices)."""
    rule = SETTINGS_RULES[field]
    parser.add_argument(f"--{field}", type=OPTION_TYPES.get(rule["kind"], str), choices=rule["choices"],
                        help=setting_help(field))  # fmt: skip


def from_picture_parser(sub, name: str, what: str, n_help: str) -> argparse.ArgumentParser:
    """A command that makes a child series from try INDEX of SERIES (vary, upscale, edit)."""
    p = sub.add_parser(name, help=what)
    p.add_argument("series")
    p.add_argument("index", type=int)
    p.add_argument("-n", type=int, help=n_help)
    p.add_argument("--seed", type=int, help="first seed (default: random seeds)")
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imagen", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="database commands").add_subparsers(dest="db_command", required=True)
    p = db.add_parser("migrate", help="bootstrap (plain Postgres only) and apply the migrations")
    p.add_argument("--database-url", help="postgres URL (default: IMAGEN_DATABASE_URL or DATABASE_URL)")
    p.add_argument("--migrations-dir", type=Path, help="default: the migrations shipped with this package")
    p.set_defaults(func=cmd_db_migrate)
    p = db.add_parser(
        "autoscaler-login",
        help="let the role imagen_autoscaler (imagen.queue_depth() only) log in with IMAGEN_AUTOSCALER_PASSWORD",
    )
    p.add_argument("--database-url", help="postgres URL (default: IMAGEN_DATABASE_URL or DATABASE_URL)")
    p.set_defaults(func=cmd_db_autoscaler_login)

    p = sub.add_parser("worker", help="render queued tries until stopped")
    p.add_argument("--burst", action="store_true", help="drain the queue, then exit")
    p.add_argument("--transport", help="postgres or supabase (default: IMAGEN_TRANSPORT or postgres)")
    p.add_argument("--model", help="hub id, local pipeline folder, or tiny / tiny-sdxl (default: IMAGEN_MODEL)")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("webhooks", help="deliver the series webhooks (signed, retried for a day) until stopped")
    p.set_defaults(func=cmd_webhooks)

    p = sub.add_parser("submit", help="create a series as a user")
    p.add_argument("prompt")
    p.add_argument("-n", type=int, help=f"number of tries: {setting_help('n')}")
    p.add_argument("--user", required=True, help="email or id of the user in auth.users")
    for field in SERIES_SETTINGS:
        add_setting_option(p, field)
    p.add_argument("--wait", action="store_true", help="show progress until every try has finished")
    p.set_defaults(func=cmd_submit)

    p = from_picture_parser(sub, "vary", "more like try INDEX of SERIES: a child series of variations of its picture",
                            f"number of variations: {setting_help('n')}")  # fmt: skip
    p.add_argument("--strength", type=int, help=f"percent of the picture made anew: {setting_help('strength')}")
    p.set_defaults(func=cmd_vary)

    p = from_picture_parser(sub, "upscale", "enlarge try INDEX of SERIES: a child series re-drawn tile by tile",
                            "number of upscales, each its own seed: 1 to 4 (default: 1)")  # fmt: skip
    p.add_argument("--factor", type=int, help=f"times wider and higher: {setting_help('factor')}")
    p.add_argument("--refine", type=int, help=f"percent re-drawn: {setting_help('refine')}")
    p.set_defaults(func=cmd_upscale)

    p = from_picture_parser(sub, "edit", "repaint the region MASK paints white on try INDEX of SERIES",
                            f"number of tries: {setting_help('n')}")  # fmt: skip
    p.add_argument("--mask", type=Path, required=True, help="a PNG of the picture's size, white where to repaint")
    p.add_argument("--prompt", help="what should be there (default: the picture's prompt)")
    p.set_defaults(func=cmd_edit)

    users = sub.add_parser("users", help="users (local databases)").add_subparsers(dest="users_command", required=True)
    p = users.add_parser("add", help="add a user to submit as (a local database only; hosted projects use Auth)")
    p.add_argument("email")
    p.set_defaults(func=cmd_users_add)

    p = sub.add_parser("status", help="recent series, or the tries of one")
    p.add_argument("series", nargs="?")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("queue", help="the operator's view: runnable tries, oldest wait, top users, lease holders")
    p.add_argument("--top", type=int, default=10, help="users with the most unfinished tries to list")
    p.add_argument("--emails", action="store_true", help="name users by email instead of id")
    p.add_argument("--json", action="store_true", help="the whole view as JSON")
    p.set_defaults(func=cmd_queue)

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
    p.add_argument("--web", action="store_true", help="serve the web app on a local stack until Ctrl-C")
    p.add_argument("--port", type=int, default=8080, help="--web: the web app's port")
    p.set_defaults(func=cmd_dev_tool)

    p = sub.add_parser("dev", help="a local database, user and worker for the commands above, until Ctrl-C")
    p.add_argument("--user", default="me@example.com", help="the local user to submit as (default: me@example.com)")
    p.add_argument("--model", help="default: tiny (no download); IMAGEN_MODEL picks a real one")
    p.add_argument("--data", type=Path, help="keep the database and pictures in DIR across runs (default: a"
                   " throwaway folder, removed on exit)")  # fmt: skip
    p.set_defaults(func=cmd_dev_tool)
    return parser


# Libraries that log a line per request at INFO: a command prints their warnings only.
QUIET_LIBRARIES = ("httpx", "httpcore", "urllib3")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "series", None):
            args.series = series_id(args.series)
    except BadArgument as exc:
        return fail(exc, 2)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    for noisy in QUIET_LIBRARIES:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Every command stops on SIGINT and SIGTERM, even if SIGINT was inherited ignored; the worker
    # and the demo install handlers of their own that release what they hold first.
    try:
        with signals.on_stop(signals.raise_stopped):
            return args.func(args)
    except signals.Stopped as stop:
        logging.getLogger("imagen").info("stopped by %s", stop)
        return 0
    except TooManyUnfinished as exc:
        return fail(exc, exc.exit_code)
    except (ConfigError, LookupError, BadArgument) as exc:
        return fail(exc, 2)
    except psycopg.OperationalError as exc:
        return fail(f"cannot reach the database: {str(exc).strip().splitlines()[0]}", 2)
    except psycopg.Error as exc:
        message = exc.diag.message_primary or str(exc).strip()
        if exc.sqlstate in UNMIGRATED_CODES:  # the database has no imagen schema, or an older one
            return fail(f"{message}: the database is not migrated; {APPLY_MIGRATIONS}", 2)
        return fail(message, 1)


def fail(error: object, exit_code: int) -> int:
    """One line on stderr, escaped: a database error may quote a user's prompt or a file name."""
    print(f"imagen: {printable(str(error))}", file=sys.stderr)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
