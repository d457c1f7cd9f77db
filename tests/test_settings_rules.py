"""The settings rules are stated once (imagen.settings_rules) and every field follows them: the
database's checks refuse exactly past each published limit with the published words, the RPCs'
defaults are the published ones, and the web app's generated copy is the database's."""

from __future__ import annotations

import json
import re

import psycopg
import pytest
from psycopg.rows import dict_row

from imagen.console.users import as_user
from tests.database import REPO_ROOT

WEB_RULES = REPO_ROOT / "web" / "src" / "settings_rules.ts"
VALID = {"prompt": "a heron", "model": "m", "width": 512, "height": 512, "steps": 4, "style": None, "seed": 1}
NUMBERS = ["width", "height", "steps", "seed"]
TEXTS = ["prompt", "model", "style"]


def rules(conn) -> dict[str, dict]:
    rows = conn.cursor(row_factory=dict_row).execute("select * from imagen.settings_rules()").fetchall()
    return {row.pop("field"): row for row in rows}


def problem(conn, **changed) -> str | None:
    s = {**VALID, **changed}
    return conn.execute(
        "select imagen_private.settings_problem(%s, %s, %s, %s, %s, %s, %s)",
        (s["prompt"], s["model"], s["width"], s["height"], s["steps"], s["style"], s["seed"]),
    ).fetchone()[0]


def test_every_published_field_is_checked_here(conn):
    # n (a request's) and strength (a variation's): their checks are pinned in test_validation and test_variations.
    assert set(rules(conn)) == {"n", "strength", *NUMBERS, *TEXTS}


@pytest.mark.parametrize("field", NUMBERS)
def test_a_number_is_refused_just_past_its_published_limits(conn, field):
    rule = rules(conn)[field]
    low, high, step = rule["min_value"], rule["max_value"], rule["multiple_of"] or 1
    assert problem(conn, **{field: low}) is None
    assert problem(conn, **{field: high}) is None
    for bad in (low - step, high + step):
        assert problem(conn, **{field: bad}) == f"{rule['rule']}, got {bad}"
    if step > 1:
        assert problem(conn, **{field: low + 1}) == f"{rule['rule']}, got {low + 1}"


@pytest.mark.parametrize("field", TEXTS)
def test_a_text_is_refused_just_past_its_published_length(conn, field):
    rule = rules(conn)[field]
    longest = rule["max_chars"]
    assert problem(conn, **{field: "é" * longest}) is None  # characters, not bytes
    said = problem(conn, **{field: "é" * (longest + 1)})
    assert said is not None and said.startswith(rule["rule"])


def test_n_is_refused_past_its_published_limits(conn, user_a):
    rule = rules(conn)["n"]
    for bad in (rule["min_value"] - 1, rule["max_value"] + 1):
        with as_user(conn, user_a), pytest.raises(psycopg.errors.InvalidParameterValue) as refused:
            conn.execute("select imagen.create_series('a heron', %s, model => 'm')", (bad,))
        assert refused.value.diag.message_primary == f"{rule['rule']}, got {bad}"


def test_the_rpcs_defaults_are_the_published_ones(conn, user_a):
    published = {field: rule["default_value"] for field, rule in rules(conn).items() if rule["default_value"]}
    # vary_image's default strength is pinned in test_variations.
    assert published.pop("strength") is not None
    assert set(published) == {"model", "width", "height", "steps"}
    with as_user(conn, user_a):
        series = conn.execute("select imagen.create_series('a heron', 1)").fetchone()[0]
        solo = conn.execute("select to_jsonb(imagen.submit_job('a heron'))").fetchone()[0]
    for made in (series, solo):
        assert {field: str(made[field]) for field in published} == published


def test_the_web_apps_rules_are_the_databases(conn):
    """web/src/settings_rules.ts is generated (scripts/gen-types); this catches a stale or edited copy."""
    lines = re.findall(r'^  "(\w+)": (\{.*\}),$', WEB_RULES.read_text(), re.M)
    assert {field: json.loads(rule) for field, rule in lines} == rules(conn)
