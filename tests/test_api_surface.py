"""What the API lets each role call (issue 19): exactly the functions meant to be API.

PostgREST serves every function of an exposed schema ([api] schemas in supabase/config.toml)
that the caller may EXECUTE. Adding a function to that list is a decision: a new function that
anon or authenticated may execute fails test_api_roles_execute_exactly_the_intended_functions
until INTENDED says it is meant to be there."""

from __future__ import annotations

import json
import tomllib

import httpx
import psycopg
import pytest

from imagen.console.users import as_user
from tests.database import REPO_ROOT

EXPOSED = tuple(tomllib.loads((REPO_ROOT / "supabase" / "config.toml").read_text())["api"]["schemas"])

# The API, by role. Worker RPCs are service_role's only; helpers live in imagen_private.
INTENDED = {
    "anon": set(),
    "authenticated": {
        "imagen.add_tries(uuid,integer)",
        "imagen.cancel_job(uuid)",
        "imagen.cancel_series(uuid)",
        "imagen.create_series(text,integer,jsonb)",
        "imagen.create_from_image(uuid,text,integer,jsonb)",
        "imagen.max_unfinished_tries()",
        "imagen.queue_places()",
        "imagen.rerun_series(uuid)",
        "imagen.retry_job(uuid)",
        "imagen.select_image(uuid,uuid,boolean)",
        "imagen.set_favourite(uuid,boolean)",
        "imagen.settings_rules()",
        "imagen.submit_job(text,jsonb)",
        "imagen.try_kinds()",
        "imagen.vary_image(uuid,integer,integer,bigint)",
    },
}

# The helpers that were callable over the REST API before (issue 19), with arguments PostgREST
# would have matched.
HELPERS = {
    "try_seed": {"base_seed": 1, "idx": 1},
    "settings_problem": {"kind": "generate", "settings": {"prompt": "x"}},
    "caller_is_service": {},
    "own_series": {"series_id": "00000000-0000-4000-8000-000000000000"},
    "own_job": {"job_id": "00000000-0000-4000-8000-000000000000"},
    "max_unfinished_tries": {"owner_id": "00000000-0000-4000-8000-000000000000"},
    "notify_jobs": {},
    "checked_settings": {"kind": "generate", "settings": {"prompt": "x"}},
}  # fmt: skip


def api_functions(conn: psycopg.Connection, role: str) -> set[str]:
    """Functions of the exposed schemas that `role` may execute (directly or through PUBLIC)."""
    rows = conn.execute(
        "select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace"
        " where n.nspname = any(%s) and has_function_privilege(%s, p.oid, 'execute')",
        (list(EXPOSED), role),
    )
    return {r[0] for r in rows}


@pytest.mark.parametrize("role", sorted(INTENDED))
def test_api_roles_execute_exactly_the_intended_functions(conn, role):
    assert api_functions(conn, role) == INTENDED[role]


def test_the_helpers_schema_is_not_exposed():
    assert "imagen_private" not in EXPOSED


def probe(conn: psycopg.Connection, schema: str) -> str:
    name = f"{schema}.probe_issue_19()"
    conn.execute(f"create function {name} returns int language sql as 'select 1'")
    return name


@pytest.mark.parametrize("schema", ["imagen", "imagen_private", "public"])
def test_a_new_function_is_executable_by_nobody_until_granted(conn, schema):
    # Created as the migration role (postgres, as `supabase db push` runs them; no superuser).
    assert conn.execute("select current_user, rolsuper from pg_roles where rolname = current_user").fetchone() == (
        "postgres",
        False,
    )
    name = probe(conn, schema)
    for role in ("public", "anon", "authenticated"):
        allowed = conn.execute("select has_function_privilege(%s, %s::regprocedure, 'execute')", (role, name))
        assert not allowed.fetchone()[0], role


def test_a_function_granted_without_a_decision_is_caught(conn):
    name = probe(conn, "imagen")
    conn.execute(f"grant execute on function {name} to authenticated")
    assert api_functions(conn, "authenticated") - INTENDED["authenticated"] == {"imagen.probe_issue_19()"}


@pytest.mark.parametrize("helper", sorted(HELPERS))
def test_helpers_are_not_callable_over_the_rest_api(standin, user_a, helper):
    headers = {"apikey": standin.keys.anon, "Authorization": f"Bearer {standin.keys.user(user_a)}",
               "Content-Profile": "imagen"}  # fmt: skip
    response = httpx.post(f"{standin.url}/rest/v1/rpc/{helper}", json=HELPERS[helper], headers=headers)
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "PGRST202"


def test_users_cannot_wake_the_workers_by_hand(conn, user_a):
    with pytest.raises(psycopg.errors.UndefinedFunction), as_user(conn, user_a):
        conn.execute("select imagen.notify_jobs()")


def test_the_user_rpcs_still_work_through_the_moved_helpers(conn, user_a):
    with as_user(conn, user_a):
        series = conn.execute("""select imagen.create_series('a heron', 2, '{"seed": 7}')""").fetchone()[0]
        job = conn.execute("""select (imagen.submit_job('solo', '{"seed": 3}')).id""").fetchone()[0]
        conn.execute("select imagen.add_tries(%s, 1)", (series["id"],))
        conn.execute("select imagen.cancel_series(%s)", (series["id"],))
        conn.execute("select imagen.cancel_job(%s)", (job,))
        conn.execute("select imagen.retry_job(%s)", (job,))
    with pytest.raises(psycopg.errors.InvalidParameterValue), as_user(conn, user_a):  # settings_problem, in a trigger
        conn.execute("""insert into imagen.series (settings, count) values ('{"prompt": ""}', 1)""")
    seeds = conn.execute(
        "select (settings->>'seed')::int from imagen.jobs where series_id = %s order by series_idx", (series["id"],)
    )
    assert [r[0] for r in seeds] == [7, 8, 9]


def test_the_broadcast_read_policy_checks_the_rows_topic(conn, user_a, user_b):
    mine = create(conn, user_a)
    theirs = create(conn, user_b)
    conn.execute("delete from realtime.messages")  # the database's own messages about the new series
    conn.execute(
        "insert into realtime.messages (topic, extension, private, payload) values"
        " (%s, 'broadcast', true, '{\"n\": 1}'), (%s, 'broadcast', true, '{\"n\": 2}')",
        (f"series:{mine}", f"series:{theirs}"),
    )
    with as_user(conn, user_a):
        conn.execute("select set_config('realtime.topic', %s, true)", (f"series:{mine}",))
        seen = conn.execute("select topic from realtime.messages").fetchall()
    assert seen == [(f"series:{mine}",)]


def create(conn, user) -> str:
    with as_user(conn, user):
        return conn.execute("select imagen.create_series('x', 1)").fetchone()[0]["id"]


def test_the_cap_has_a_sqlstate_of_its_own_with_the_numbers(conn, user_a):
    conn.execute("insert into imagen.limits (owner_id, max_unfinished_tries) values (%s, 3)", (user_a,))
    with as_user(conn, user_a):
        conn.execute("select imagen.create_series('x', 2)")
    with pytest.raises(psycopg.Error) as err, as_user(conn, user_a):
        conn.execute("select imagen.create_series('x', 2)")
    assert err.value.sqlstate == "PT429"
    assert err.value.diag.message_primary.startswith("too many unfinished tries: you have 2 queued or running")
    assert json.loads(err.value.diag.message_detail) == {"unfinished": 2, "asked": 2, "limit": 3}
    assert "cancel" in err.value.diag.message_hint


def test_postgrest_answers_the_cap_429(standin, conn, user_a):
    conn.execute("insert into imagen.limits (owner_id, max_unfinished_tries) values (%s, 1)", (user_a,))
    headers = {"apikey": standin.keys.anon, "Authorization": f"Bearer {standin.keys.user(user_a)}",
               "Content-Profile": "imagen"}  # fmt: skip
    response = httpx.post(f"{standin.url}/rest/v1/rpc/create_series", json={"prompt": "x", "n": 2}, headers=headers)
    assert response.status_code == 429
    assert response.json()["code"] == "PT429"
