"""Only a series' owner may receive Broadcast on topic 'series:<series uuid>': the RLS policy on
realtime.messages, checked the way the Realtime server checks a channel join (a message row for
the topic inserted, then selected as the user with realtime.topic set, all rolled back)."""

from __future__ import annotations

import json

import pytest

from imagen.console.users import user_claims
from tests.world import create_series


def may_receive(conn, user, topic: str, extension: str = "broadcast", role: str = "authenticated") -> bool:
    with conn.transaction(force_rollback=True):
        message_id = conn.execute(
            "insert into realtime.messages (topic, extension, private) values (%s, %s, true) returning id",
            (topic, extension),
        ).fetchone()[0]
        claims = user_claims(user) if user is not None else {"role": role}
        conn.execute(
            "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true),"
            " set_config('realtime.topic', %s, true)",
            (role, json.dumps(claims), topic),
        )
        seen = conn.execute(
            "select count(*) from realtime.messages where id = %s and extension = %s", (message_id, extension)
        ).fetchone()[0]
        return seen == 1


def test_the_owner_receives_their_series_and_nobody_elses(conn, user_a, user_b):
    series_a = create_series(conn, user_a, 1)["id"]
    series_b = create_series(conn, user_b, 1)["id"]
    assert may_receive(conn, user_a, f"series:{series_a}")
    assert may_receive(conn, user_b, f"series:{series_b}")
    assert not may_receive(conn, user_a, f"series:{series_b}")
    assert not may_receive(conn, user_b, f"series:{series_a}")


def test_only_broadcast_and_only_signed_in_users(conn, user_a):
    series_a = create_series(conn, user_a, 1)["id"]
    assert not may_receive(conn, user_a, f"series:{series_a}", extension="presence")
    assert not may_receive(conn, None, f"series:{series_a}", role="anon")


@pytest.mark.parametrize(
    "topic",
    ["series:", "series:not-a-uuid", "series:12345", "series", "", "other:{id}", "series:{id}:extra", "SERIES:{id}"],
)
def test_a_malformed_topic_is_refused_without_an_error(conn, user_a, topic):
    series_a = create_series(conn, user_a, 1)["id"]
    assert not may_receive(conn, user_a, topic.format(id=series_a))


def test_postgres_creates_policies_on_realtime_messages_without_owning_it(conn):
    owner, rls = conn.execute(
        "select pg_get_userbyid(relowner), relrowsecurity from pg_class where oid = 'realtime.messages'::regclass"
    ).fetchone()
    assert (owner, rls) == ("supabase_realtime_admin", True)
    policies = conn.execute("select policyname, roles::text[], cmd from pg_policies where tablename = 'messages'")
    assert policies.fetchall() == [("series broadcast: owners receive their series", ["authenticated"], "SELECT")]
