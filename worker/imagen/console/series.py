"""What people do with a series from a terminal: start one as a user, watch it, pick a winner,
write its contact sheet. Every user action runs as that user, so RLS applies as in the web app."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from imagen.config import ConfigError
from imagen.console.liveness import QUIET_SECONDS, no_worker_notice
from imagen.console.progress import TryBars
from imagen.console.progress_feed import ProgressFeed, latest_steps
from imagen.console.report import series_tries, tries_table
from imagen.console.sheet import contact_sheet
from imagen.console.users import as_user
from imagen.errors import NotFound, TooManyUnfinished
from imagen.jobs import Storage, TryStatus

# The database's SQLSTATE for the cap on a user's unfinished tries (HTTP 429 through PostgREST).
TOO_MANY_UNFINISHED = "PT429"


def find_user(conn: psycopg.Connection, who: str) -> uuid.UUID:
    row = conn.execute("select id from auth.users where id::text = %s or email = %s", (who, who)).fetchone()
    if row is None:
        raise ConfigError(f"--user {who!r}: no such user in auth.users (give an email or a user id)")
    return row[0]


def create_series(conn: psycopg.Connection, user: uuid.UUID, prompt: str, n: int | None = None,
                  **settings: object) -> dict:  # fmt: skip
    """imagen.create_series as `user`, with n and the settings given as one value (a setting that is
    None is left out, so its rule's default applies)."""
    given = {k: v for k, v in settings.items() if v is not None}
    return queue_as(conn, user, *rpc_call("create_series", {"prompt": prompt}, {"n": n, "settings": Jsonb(given)}))


def rpc_call(function: str, first: dict, optional: dict) -> tuple[sql.Composable, dict]:
    """`select imagen.<function>(first..., name => value...)`: an optional argument that is None is
    left out, so the RPC's default (imagen.settings_rules) applies."""
    given = {k: v for k, v in optional.items() if v is not None}
    named = [sql.SQL("{} => {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in given]
    arguments = sql.SQL(", ").join([sql.Placeholder(k) for k in first] + named)
    return sql.SQL("select imagen.{}({})").format(sql.Identifier(function), arguments), {**first, **given}


def queue_as(conn: psycopg.Connection, user: uuid.UUID, statement: sql.Composable, params: dict) -> dict:
    """A user RPC that queues tries, as `user`; the cap's refusal becomes TooManyUnfinished."""
    try:
        with as_user(conn, user):
            return conn.execute(statement, params).fetchone()[0]
    except psycopg.Error as exc:
        if exc.sqlstate != TOO_MANY_UNFINISHED:
            raise
        what_to_do = "wait for some to finish, or cancel some (imagen status shows them), then try again"
        raise TooManyUnfinished(f"{exc.diag.message_primary}; {what_to_do}") from exc


def watch_series(conn: psycopg.Connection, series_id: str, feed: ProgressFeed,
                 quiet_seconds: float = QUIET_SECONDS) -> list[dict]:  # fmt: skip
    """A progress bar per try until every try has finished; then the table of tries. Steps come
    from the progress events; states from the rows, re-read as events arrive or twice a second.
    While no worker seems to be running, it says so (once each time that starts), and waits on."""
    tries = series_tries(conn, series_id)
    bars = TryBars([(t["series_idx"], t["steps"]) for t in tries])
    heard: dict[int, int] = {}
    told = False
    try:
        while True:
            heard = latest_steps(feed.poll(0.5), heard)
            tries = with_steps_heard(series_tries(conn, series_id), heard)
            for t in tries:
                bars.update(t["series_idx"], t["progress"], t["status"])
            if all(TryStatus(t["status"]).finished for t in tries):
                break
            notice = no_worker_notice(conn, quiet_seconds)
            if notice and not told:
                print(f"imagen: {notice}; still waiting (Ctrl-C stops waiting, the tries stay queued)",
                      file=sys.stderr, flush=True)  # fmt: skip
            told = notice is not None
    finally:
        bars.close()
    print(tries_table(tries))
    return tries


def with_steps_heard(tries: list[dict], heard: dict[int, int]) -> list[dict]:
    """The tries with the progress the events told of (a done try shows all its steps)."""
    for t in tries:
        if t["status"] == TryStatus.DONE:
            t["progress"] = t["steps"]
        elif t["status"] == TryStatus.RUNNING:
            t["progress"] = max(t["progress"], heard.get(t["series_idx"], 0))
    return tries


def pick_winner(conn: psycopg.Connection, series_id: str, index: int) -> dict:
    """Sets try `index` as the winner, as the series' owner (RLS and the winner FK apply)."""
    owner, image_id = finished_try(conn, series_id, index)
    with as_user(conn, owner):
        return conn.execute("select to_jsonb(imagen.select_image(%s, %s))", (series_id, image_id)).fetchone()[0]


def finished_try(conn: psycopg.Connection, series_id: str, index: int) -> tuple[uuid.UUID, uuid.UUID]:
    """(the series' owner, the picture of its try `index`), or NotFound."""
    row = conn.execute(
        "select s.owner_id, j.image_id from imagen.series s"
        " left join imagen.jobs j on j.series_id = s.id and j.series_idx = %s where s.id = %s",
        (index, series_id),
    ).fetchone()
    if row is None:
        raise NotFound(f"series {series_id} not found")
    if row[1] is None:
        raise NotFound(f"series {series_id} has no finished try {index}")
    return row[0], row[1]


def write_sheet(conn: psycopg.Connection, series_id: str, storage: Storage, out: Path) -> Path:
    """The series' contact sheet, its pictures read through the transport's Storage."""
    tries = series_tries(conn, series_id)
    for t in tries:
        t["png"] = storage.get(t["path"]) if t["path"] else None
    out.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(tries).save(out)
    return out
