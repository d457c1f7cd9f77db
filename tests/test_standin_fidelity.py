"""The stand-in follows the real servers. Realtime follows the real server's rules (walrus: realtime.list_changes and
apply_rls in supabase/realtime): only what the supabase_realtime publication publishes, only the
columns the subscriber's role may select, RLS for inserts and updates, and DELETE events to every
subscriber of the table with the old record cut to the primary key. A scratch table keeps these
tests about the stand-in, whatever imagen's own publication says."""

from __future__ import annotations

import asyncio
import re

import pytest
from realtime import AsyncRealtimeClient

from tests.broadcast import allow_public_channels

SCRATCH = """
create table public.notes (id int primary key, owner_id uuid not null, body text, secret text);
alter table public.notes enable row level security;
create policy notes_select_own on public.notes for select to authenticated using (owner_id = (select auth.uid()));
grant select (id, owner_id, body) on public.notes to authenticated;
create table public.unpublished (id int primary key);
grant select on public.unpublished to authenticated;
"""


@pytest.fixture
def notes(conn, standin):
    allow_public_channels(standin)  # Postgres Changes joins public channels
    conn.execute(SCRATCH)
    conn.execute("alter publication supabase_realtime add table public.notes")
    yield
    conn.execute("alter publication supabase_realtime drop table public.notes")


async def collect(standin, token: str, table: str, act, seconds: float = 1.5) -> list[dict]:
    """Subscribes as `token` to all changes of public.<table>, runs act(), returns the events."""
    events: list[dict] = []
    client = AsyncRealtimeClient(f"{standin.url}/realtime/v1", token=token)
    await client.connect()
    joined = asyncio.Event()
    channel = client.channel(f"test-{table}")
    channel.on_postgres_changes("*", schema="public", table=table, callback=events.append)
    channel.on_system(lambda *_: joined.set())
    await channel.subscribe()
    await asyncio.wait_for(joined.wait(), 10)
    await asyncio.to_thread(act)
    await asyncio.sleep(seconds)
    await client.close()
    return [e["data"] for e in events]


def test_inserts_reach_only_those_rls_lets_see_them_and_only_granted_columns(conn, notes, standin, user_a, user_b):
    def act():
        conn.execute("insert into public.notes values (1, %s, 'hello', 'hunter2')", (user_a,))

    seen_by_a = asyncio.run(collect(standin, standin.keys.user(user_a), "notes", act))
    assert [e["type"] for e in seen_by_a] == ["INSERT"]
    assert seen_by_a[0]["record"] == {"id": 1, "owner_id": str(user_a), "body": "hello"}  # no secret
    assert "secret" not in {c["name"] for c in seen_by_a[0]["columns"]}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", seen_by_a[0]["commit_timestamp"])

    def act_again():
        conn.execute("insert into public.notes values (2, %s, 'again', null)", (user_a,))

    assert asyncio.run(collect(standin, standin.keys.user(user_b), "notes", act_again)) == []


def test_a_published_delete_reaches_every_subscriber_with_only_the_primary_key(conn, notes, standin, user_a, user_b):
    conn.execute("insert into public.notes values (3, %s, 'private', 'hunter2'), (4, %s, 'x', null)", (user_a, user_a))

    def delete(note_id):
        return lambda: conn.execute("delete from public.notes where id = %s", (note_id,))

    # Imagen's migrations publish no deletes (they would reach everyone): nothing arrives.
    assert asyncio.run(collect(standin, standin.keys.user(user_b), "notes", delete(3))) == []
    conn.execute("alter publication supabase_realtime set (publish = 'insert, update, delete')")
    seen_by_b = asyncio.run(collect(standin, standin.keys.user(user_b), "notes", delete(4)))
    assert [(e["type"], e["old_record"]) for e in seen_by_b] == [("DELETE", {"id": 4})]
    assert "record" not in seen_by_b[0]


def test_tables_outside_the_publication_send_nothing(conn, notes, standin, user_a):
    def act():
        conn.execute("insert into public.unpublished values (1)")

    assert asyncio.run(collect(standin, standin.keys.service_role, "unpublished", act)) == []


def test_a_void_function_answers_204_with_no_body(conn, standin, user_a):
    import httpx

    conn.execute("create function public.nothing() returns void language sql as ''")
    conn.execute("grant execute on function public.nothing() to authenticated")
    headers = {"apikey": standin.keys.anon, "Authorization": f"Bearer {standin.keys.user(user_a)}"}
    response = httpx.post(f"{standin.url}/rest/v1/rpc/nothing", json={}, headers=headers)
    assert (response.status_code, response.content) == (204, b"")


ARGUMENT_FUNCTIONS = """
create type public.point2 as (x int, y int);
create function public.shapes(ids bigint[], p public.point2, doc jsonb, tags text[] default '{}', n int default 1)
returns jsonb language sql as $$ select jsonb_build_object('ids', ids, 'x', p.x, 'doc', doc, 'tags', tags, 'n', n) $$;
create function public.twin(a int) returns int language sql as 'select a';
create function public.twin(a int, b int default 0) returns int language sql as 'select a + b';
create function public.whole(jsonb) returns jsonb language sql as 'select $1';
grant execute on all functions in schema public to authenticated;
"""


def test_rpc_arguments_are_built_from_the_json_body_as_postgrest_does(conn, standin, user_a):
    """json_to_record with each parameter's type: a JSON array is an array, an object a composite,
    any JSON a jsonb; optional parameters may be left out; PGRST202 / PGRST203 where PostgREST
    finds no function or more than one for the keys given."""
    import httpx

    conn.execute(ARGUMENT_FUNCTIONS)
    headers = {"apikey": standin.keys.anon, "Authorization": f"Bearer {standin.keys.user(user_a)}"}

    def rpc(fn, body):
        response = httpx.post(f"{standin.url}/rest/v1/rpc/{fn}", json=body, headers=headers)
        return response.status_code, response.json()

    body = {"ids": [1, 2], "p": {"x": 3, "y": 4}, "doc": {"a": [1]}, "n": 5}
    assert rpc("shapes", body) == (200, {"ids": [1, 2], "x": 3, "doc": {"a": [1]}, "tags": [], "n": 5})
    status, missing = rpc("shapes", {"ids": [1]})  # p and doc are required
    assert (status, missing["code"]) == (404, "PGRST202")
    assert missing["message"] == "Could not find the function public.shapes(ids) in the schema cache"
    status, ambiguous = rpc("twin", {"a": 1})
    assert (status, ambiguous["code"]) == (300, "PGRST203")
    assert ambiguous["message"].startswith("Could not choose the best candidate function between: public.twin(a => ")
    assert rpc("twin", {"a": 1, "b": 2}) == (200, 3)
    assert rpc("whole", {"any": ["thing"]}) == (200, {"any": ["thing"]})  # a single unnamed jsonb: the whole body
    status, bad = rpc("shapes", {**body, "ids": ["x"]})
    assert (status, bad["code"]) == (400, "22P02")


@pytest.mark.parametrize(
    ("sqlstate", "role", "message", "status"),
    [
        ("PT429", "authenticated", "too many", 429),  # RAISE ... ERRCODE 'PTnnn': status nnn
        ("PT402", "anon", "Payment Required", 402),
        ("PTxyz", "anon", "", 500),
        ("P0001", "authenticated", "", 400),
        ("P0002", "authenticated", "", 500),  # PL/pgSQL errors other than a plain raise
        ("25006", "authenticated", "", 405),
        ("25P02", "authenticated", "", 500),
        ("42501", "anon", "", 401),
        ("42501", "authenticated", "", 403),
        ("22023", "authenticated", 'role "x" does not exist', 401),
        ("22023", "authenticated", "n must be between 1 and 10", 400),
        ("21000", "authenticated", "DELETE requires a WHERE clause", 400),
        ("21000", "authenticated", "more than one row returned", 500),
        ("28000", "authenticated", "", 403),
        ("53400", "authenticated", "", 500),
        ("53300", "authenticated", "", 503),
        ("57P01", "authenticated", "", 503),
        ("57014", "authenticated", "", 500),
        ("23503", "authenticated", "", 409),
        ("42883", "authenticated", "", 404),
        ("22P05", "authenticated", "", 400),
    ],
)
def test_sql_errors_get_postgrests_statuses(sqlstate, role, message, status):
    """mapSQLtoHTTP in PostgREST's src/PostgREST/Error.hs, case by case."""
    from imagen.dev.supabase_standin.postgrest import status_for

    assert status_for(sqlstate, role, message) == status
