"""A try's states are one list: the database's check on imagen.jobs.status and the worker's
TryStatus name the same words; which of them are unfinished is the database's rule, generated into
the web app and the CLI (tests/test_state_rules.py checks that every surface uses it)."""

from __future__ import annotations

import re

from imagen.jobs import TryStatus
from tests.database import REPO_ROOT

WEB_SOURCES = REPO_ROOT / "web" / "src"


def quoted(text: str) -> set[str]:
    """The words in quotes, single or double."""
    return {single or double for single, double in re.findall(r"'(\w+)'|\"(\w+)\"", text)}


def test_the_database_checks_the_states_the_worker_names(conn):
    (check,) = conn.execute(
        "select pg_get_constraintdef(oid) from pg_constraint where conname = 'jobs_status_known'"
    ).fetchone()
    assert quoted(check) == {s.value for s in TryStatus}


def test_the_web_app_compares_statuses_only_with_known_words():
    """Every `status === "..."` and `case "...":` of a status in the web app names a real state."""
    said = set()
    for path in WEB_SOURCES.rglob("*.ts"):
        text = path.read_text()
        said |= set(re.findall(r"status\s*[!=]==\s*\"(\w+)\"", text))
        said |= set(re.findall(r"case \"(queued|running|done|failed|cancelled|\w+ed)\":", text))
    assert said and said <= {s.value for s in TryStatus}, said - {s.value for s in TryStatus}
