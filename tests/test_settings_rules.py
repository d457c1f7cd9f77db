"""The settings rules are stated once (imagen.settings_rules) and every field follows them: the
database's checks refuse exactly past each published limit with the published words, the RPCs'
defaults are the published ones, the web app's generated copy is the database's, and its form
says what the database says for the same input."""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from imagen.config import DEFAULT_MODEL
from imagen.console.settings_rules import SETTINGS_RULES
from imagen.console.users import as_user
from tests.database import REPO_ROOT

WEB_RULES = REPO_ROOT / "web" / "src" / "settings_rules.ts"
FUNCTION_RULES = REPO_ROOT / "supabase" / "functions" / "_shared" / "settings_rules.ts"
DENO = REPO_ROOT / ".venv" / "bin" / "deno"
VALID = {"prompt": "a heron", "model": "m", "width": 512, "height": 512, "steps": 4, "style": None, "seed": 1}
NUMBERS = ["width", "height", "steps", "seed", "guidance"]
TEXTS = ["prompt", "model", "style"]


def rules(conn) -> dict[str, dict]:
    """The published rules, numbers as JSON has them (the function's numerics are decimals)."""
    rows = conn.cursor(row_factory=dict_row).execute("select * from imagen.settings_rules()").fetchall()
    as_json = {Decimal: lambda d: int(d) if d == d.to_integral_value() else float(d)}
    return {row.pop("field"): {k: as_json.get(type(v), lambda x: x)(v) for k, v in row.items()} for row in rows}


def problem(conn, kind: str = "generate", **changed) -> str | None:
    """What the one generic check says of these settings (VALID with `changed`)."""
    return conn.execute(
        "select imagen_private.settings_problem(%s, %s)", (kind, Jsonb({**VALID, **changed}))
    ).fetchone()[0]


def test_every_published_field_is_checked_here(conn):
    # n (a request's), strength and source_path (a variation's): pinned in test_validation and
    # test_variations; factor, refine and mask_path (an upscale's, an edit's) in test_upscale_and_edit.
    assert set(rules(conn)) == {"n", "strength", "source_path", "factor", "refine", "mask_path", *NUMBERS, *TEXTS}


def test_every_rule_says_what_a_generated_form_needs(conn):
    """Each field has a kind of value, a label, a position, and numbers have their limits and step."""
    for field, rule in rules(conn).items():
        assert rule["kind"] in ("integer", "decimal", "choice", "text", "picture"), field
        assert rule["label"] and rule["position"] is not None, field
        if rule["kind"] in ("integer", "decimal"):
            assert None not in (rule["min_value"], rule["max_value"], rule["step"]), field
        if rule["kind"] == "text":
            assert rule["max_chars"], field
        if rule["kind"] == "choice":
            assert rule["choices"], field


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
            conn.execute("""select imagen.create_series('a heron', %s, '{"model": "m"}')""", (bad,))
        assert refused.value.diag.message_primary == f"{rule['rule']}, got {bad}"


def test_a_blank_prompt_gets_the_published_words(conn):
    said = rules(conn)["prompt"]["empty_rule"]
    assert said.startswith("prompt ")
    for blank in (None, "", " \t\n"):
        assert problem(conn, prompt=blank) == said


def test_the_rpcs_defaults_are_the_published_ones(conn, user_a):
    published = {field: rule["default_value"] for field, rule in rules(conn).items() if rule["default_value"]}
    # vary_image's default strength is pinned in test_variations, an upscale's in test_upscale_and_edit.
    assert all(published.pop(field) is not None for field in ("strength", "factor", "refine"))
    tries = published.pop("n")
    assert set(published) == {"model", "width", "height", "steps"}
    with as_user(conn, user_a):
        series = conn.execute("select imagen.create_series('a heron')").fetchone()[0]
        solo = conn.execute("select to_jsonb(imagen.submit_job('a heron'))").fetchone()[0]
    assert str(series["count"]) == tries
    for made in (series, solo):
        assert {field: str(made["settings"][field]) for field in published} == published


def test_a_worker_loads_the_databases_default_model_unless_told_otherwise(conn):
    """IMAGEN_MODEL's default is the model a try left to its default records (a second statement of
    it, in the worker's config, which it needs before it reaches a database)."""
    assert rules(conn)["model"]["default_value"] == DEFAULT_MODEL


def test_the_strong_strength_is_within_the_strength_rule(conn):
    strong = rules(conn)["strength"]["strong_value"]
    assert problem(conn, "vary", strength=strong) is None


def database_says(conn, user, call: str, args: tuple) -> str:
    """The 22023 message the database refuses this call with, as `user`."""
    with as_user(conn, user), pytest.raises(psycopg.errors.InvalidParameterValue) as refused:
        conn.execute(call, args)
    return refused.value.diag.message_primary


def add_tries_refusal(conn, user, series_id: str, n: int) -> str:
    return database_says(conn, user, "select imagen.add_tries(%s, %s)", (series_id, n))


def test_add_tries_says_ns_published_words(conn, user_a):
    rule = rules(conn)["n"]
    with as_user(conn, user_a):
        series = conn.execute("select imagen.create_series('a heron', 3)").fetchone()[0]
    assert add_tries_refusal(conn, user_a, series["id"], 0) == f"{rule['rule']}, got 0"
    grow = rule["max_value"] - 3 + 1
    assert add_tries_refusal(conn, user_a, series["id"], grow) == rule["grow_rule"] % 3


def test_the_clis_rules_are_the_databases(conn):
    """worker/imagen/console/settings_rules.py (imagen submit's options) is generated too."""
    assert rules(conn) == SETTINGS_RULES


def web_form(cases: dict) -> dict:
    """web/src/rules.ts run by Deno on these inputs: validateSeries's problems for each form, and
    addTriesProblem for each (n typed, the series' count); and its size presets."""
    script = (
        f'import {{ addTriesProblem, SIZE_PRESETS, validateSeries }} from "{REPO_ROOT / "web" / "src" / "rules.ts"}";\n'
        f"const cases = {json.dumps(cases)};\n"
        "console.log(JSON.stringify({\n"
        "  forms: cases.forms.map((form) => validateSeries(form).problems),\n"
        "  adds: cases.adds.map(([n, count]) => addTriesProblem(n, count)),\n"
        "  presets: SIZE_PRESETS,\n"
        "}));\n"
    )
    return deno_prints(script)


def deno_prints(script: str):
    """The one JSON value this TypeScript prints, run by Deno (importing as the app and the function do)."""
    run = subprocess.run([DENO, "eval", "--no-config", "--sloppy-imports", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_the_web_forms_words_are_the_databases(conn, user_a):
    """For one bad field at a time, the form's message (web/src/rules.ts) is the one the database
    raises for the same input: the words come from the same rows."""
    good = {"prompt": "a heron", "n": "2", "width": "512", "height": "512", "steps": "4", "seed": "", "style": ""}
    bad = [("prompt", " \t"), ("prompt", "é" * 2001), ("n", "0"), ("n", "11"), ("width", "1000"),
           ("height", "2064"), ("steps", "0"), ("steps", "51"), ("style", "s" * 201), ("seed", "-1"),
           ("seed", "4294967296")]  # fmt: skip
    adds = [("0", 3), ("8", 3), ("12", 1)]
    said = web_form({"forms": [{**good, field: value} for field, value in bad], "adds": adds})

    create = "select imagen.create_series(%s, %s, %s)"
    for (field, value), problems in zip(bad, said["forms"], strict=True):
        form = {**good, field: value}
        settings = {"width": int(form["width"]), "height": int(form["height"]), "steps": int(form["steps"]),
                    "style": form["style"] or None, "seed": int(form["seed"]) if form["seed"] else None}  # fmt: skip
        args = (form["prompt"], int(form["n"]), Jsonb(settings))
        assert problems == {field: database_says(conn, user_a, create, args)}
    with as_user(conn, user_a):
        series = {count: conn.execute("select imagen.create_series('a heron', %s)", (count,)).fetchone()[0]["id"]
                  for count in {count for _, count in adds}}  # fmt: skip
    for (n, count), problem_said in zip(adds, said["adds"], strict=True):
        assert problem_said == add_tries_refusal(conn, user_a, series[count], int(n))
    # The sizes the form offers are ones the database takes.
    assert said["presets"] and all(problem(conn, width=p["width"], height=p["height"]) is None for p in said["presets"])


@pytest.mark.parametrize("copy", [WEB_RULES, FUNCTION_RULES], ids=["web", "function"])
def test_the_generated_rules_are_the_databases(conn, copy):
    """The web app's and the imagine function's settings_rules.ts are generated (scripts/gen-types);
    this catches a stale or edited copy."""
    said = deno_prints(f'import {{ SETTINGS_RULES }} from "{copy}"; console.log(JSON.stringify(SETTINGS_RULES));')
    assert said == rules(conn)
