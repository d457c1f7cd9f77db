"""A try's states are one list: the database's check on imagen.jobs.status, the worker's TryStatus
and the web app's JobStatus (and its UNFINISHED, which the cap counts) name the same words."""

from __future__ import annotations

import re

from imagen.jobs import TryStatus
from tests.database import REPO_ROOT

WEB_API = REPO_ROOT / "web" / "src" / "api.ts"


def quoted(text: str) -> set[str]:
    """The words in quotes, single or double."""
    return {single or double for single, double in re.findall(r"'(\w+)'|\"(\w+)\"", text)}


def web_declaration(name: str) -> str:
    match = re.search(rf"export (?:type|const) {name}\b[^;]*;", WEB_API.read_text())
    assert match, f"web/src/api.ts declares no {name}"
    return match.group(0)


def test_the_database_checks_the_states_the_worker_names(conn):
    (check,) = conn.execute(
        "select pg_get_constraintdef(oid) from pg_constraint where conname = 'jobs_status_known'"
    ).fetchone()
    assert quoted(check) == {s.value for s in TryStatus}


def test_the_web_app_names_the_same_states_and_the_same_unfinished_ones():
    assert quoted(web_declaration("JobStatus")) == {s.value for s in TryStatus}
    assert quoted(web_declaration("UNFINISHED")) == {s.value for s in TryStatus if s.unfinished}
