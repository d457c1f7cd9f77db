"""`imagen dev`: a local PostgreSQL, migrated, with a user to submit as and a worker rendering for
it, kept running until Ctrl-C or SIGTERM, so that the commands people run (`imagen submit`,
`status`, `pick`, `sheet`, ...) can be tried from another terminal with nothing else set up.

It prints the environment those commands need first. Everything lives in one folder: a throwaway
one under /tmp, removed on exit, or the one `--data DIR` names, kept for the next run. Only the
model settings (IMAGEN_MODEL, IMAGEN_DEVICE, ...) come from this environment; a worker box's
IMAGEN_TRANSPORT or database is never touched.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import tempfile
import threading
from pathlib import Path

import psycopg

from imagen.config import unknown_variables
from imagen.console.users import ensure_user
from imagen.db.migrate import migrate
from imagen.dev.embedded_postgres import EmbeddedPostgres, EmbeddedPostgresError
from imagen.dev.web_stack import worker_process
from imagen.signals import Stopped, wait_event

TRY_COMMANDS = (
    'imagen submit "a lighthouse on a cliff at dusk" -n 3 --model {model} {size}--user {user} --wait',
    "imagen status",
    "imagen status SERIES_ID        # the tries of one series",
    "imagen pick SERIES_ID 2        # try 2 is the winner",
    "imagen sheet SERIES_ID -o sheet.png",
)


def cmd_dev(args) -> int:
    """`imagen dev`, registered as the imagen.commands entry point 'dev' (the CLI does not import dev)."""
    if problems := unknown_variables():  # the worker would refuse them: say so here, once
        print(f"imagen dev: {'; '.join(problems)}", flush=True)
        return 2
    model = args.model or os.environ.get("IMAGEN_MODEL") or "tiny"
    if not args.verbose:  # the terminal is for what to paste; a line per migration only with -v
        logging.getLogger("imagen.db.migrate").setLevel(logging.WARNING)
    folder = data_folder(args.data)
    try:
        return serve_locally(folder, args.user, model, kept=args.data is not None)
    except EmbeddedPostgresError as exc:
        print(f"imagen dev: {exc}", flush=True)
        return 2
    finally:
        if args.data is None:
            shutil.rmtree(folder, ignore_errors=True)
            print(f"imagen dev: removed {folder}", flush=True)


def data_folder(data: Path | None) -> Path:
    """--data DIR, made if missing, or a throwaway folder the database's own user can reach too
    (mkdtemp makes it 0700; the server runs as `postgres` when we are root)."""
    if data is not None:
        data.mkdir(parents=True, exist_ok=True)
        return data.absolute()
    folder = Path(tempfile.mkdtemp(prefix="imagen-dev-", dir="/tmp"))
    folder.chmod(0o755)
    return folder


def worker_env(database_url: str, storage_dir: Path, model: str) -> dict:
    """This environment (the model settings) with the local database and picture folder."""
    return {**os.environ, "IMAGEN_TRANSPORT": "postgres", "IMAGEN_DATABASE_URL": database_url,
            "IMAGEN_STORAGE_DIR": str(storage_dir), "IMAGEN_MODEL": model}  # fmt: skip


def serve_locally(folder: Path, user: str, model: str, kept: bool) -> int:
    with EmbeddedPostgres(keep_in=folder / "postgres") as pg:
        applied = migrate(pg.url())
        with psycopg.connect(pg.url(), autocommit=True) as conn:
            ensure_user(conn, user)
        images, log = folder / "images", folder / "worker.log"
        print(f"imagen dev: PostgreSQL on 127.0.0.1:{pg.port} ({len(applied)} migrations applied), user {user}")
        print(f"imagen dev: data in {folder} ({'kept' if kept else 'removed on exit'});"
              f" worker (model {model}) logs to {log}")  # fmt: skip
        with worker_process(worker_env(pg.url(), images, model), log) as worker:
            print(paste_this(pg.url(), images, user, model), flush=True)
            try:
                while worker.poll() is None:
                    wait_event(threading.Event(), 1.0)  # in slices: a signal is handled within a second
            except Stopped as stop:
                print(f"imagen dev: {stop} received, stopping the worker and the database", flush=True)
                return 0
        last = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
        where = f" (log: {log})" if kept else ""
        print(f"imagen dev: the worker stopped (exit code {worker.returncode}): {last[0]}{where}", flush=True)
        return 1


def paste_this(database_url: str, images: Path, user: str, model: str) -> str:
    """The environment to paste into another terminal, and commands to try there."""
    size = "--width 256 --height 256 " if model.startswith("tiny") else ""
    commands = [c.format(model=shlex.quote(model), size=size, user=shlex.quote(user)) for c in TRY_COMMANDS]
    return "\n".join([
        "\nIn another terminal:\n",
        f"  export IMAGEN_DATABASE_URL={shlex.quote(database_url)}",
        f"  export IMAGEN_STORAGE_DIR={shlex.quote(str(images))}",
        "\nthen try:\n",
        *(f"  {c}" for c in commands),
        "\nCtrl-C (or SIGTERM) stops the worker and the database.",
    ])  # fmt: skip
