"""Issue 32 (10): an anonymous user (Auth's anonymous sign-ins, a token with is_anonymous) gets no
GPU time by default — a clear error telling them to sign up, enforced by the database on every
path (PostgREST's RPC and table insert, the edge function) — and an operator can give them a small
cap of their own in imagen.limits. Signed-up users keep theirs."""

from __future__ import annotations

import uuid

import httpx
import psycopg
import pytest

from imagen.console.users import acting_as
from tests.test_edge_function import bearer, deno_imagine, imagine  # noqa: F401  (fixtures)

SIGN_UP = "anonymous users get no GPU time: sign up with an email address to render pictures"


@pytest.fixture
def anonymous(conn) -> uuid.UUID:
    """A user as Auth's anonymous sign-in makes one: no email, is_anonymous."""
    return conn.execute(
        "insert into auth.users (id, is_anonymous) values (gen_random_uuid(), true) returning id"
    ).fetchone()[0]


def anonymous_claims(user: uuid.UUID) -> dict:
    return {"sub": str(user), "role": "authenticated", "aud": "authenticated", "is_anonymous": True}


def rest(standin, token: str) -> dict:
    return {"apikey": standin.keys.anon, "Authorization": f"Bearer {token}", "Content-Profile": "imagen"}


def tries(conn) -> int:
    return conn.execute("select count(*) from imagen.jobs").fetchone()[0]


def test_an_anonymous_user_is_told_to_sign_up_and_nothing_is_queued(conn, anonymous):
    with pytest.raises(psycopg.Error) as err, acting_as(conn, "authenticated", anonymous_claims(anonymous)):
        conn.execute("select imagen.create_series('a heron', 1)")
    assert err.value.sqlstate == "PT403"
    assert err.value.diag.message_primary == SIGN_UP
    assert tries(conn) == 0


def test_over_postgrest_the_rpc_is_403_and_a_direct_insert_refused(standin, conn, anonymous, user_a):
    token = standin.keys.user(anonymous, anonymous=True)
    response = httpx.post(f"{standin.url}/rest/v1/rpc/create_series", json={"prompt": "x", "n": 1},
                          headers=rest(standin, token))  # fmt: skip
    assert response.status_code == 403, response.text
    assert response.json()["message"] == SIGN_UP
    # A solo try inserted straight into the table, as PostgREST runs it (the stand-in serves RPCs
    # and reads only): the same role and claims, the same refusal.
    with pytest.raises(psycopg.Error) as err, acting_as(conn, "authenticated", anonymous_claims(anonymous)):
        conn.execute("""insert into imagen.jobs (settings) values ('{"prompt": "x"}')""")
    assert (err.value.sqlstate, err.value.diag.message_primary) == ("PT403", SIGN_UP)
    assert tries(conn) == 0
    # A signed-up user is not affected.
    response = httpx.post(f"{standin.url}/rest/v1/rpc/create_series", json={"prompt": "x", "n": 1},
                          headers=rest(standin, standin.keys.user(user_a)))  # fmt: skip
    assert response.status_code == 200, response.text


def test_an_operator_can_give_anonymous_users_a_small_cap(standin, conn, anonymous):
    conn.execute("update imagen.limits set max_unfinished_tries = 2 where owner_id is null and anonymous")
    headers = rest(standin, standin.keys.user(anonymous, anonymous=True))
    url = f"{standin.url}/rest/v1/rpc/create_series"
    assert httpx.post(url, json={"prompt": "x", "n": 2}, headers=headers).status_code == 200
    response = httpx.post(url, json={"prompt": "x", "n": 1}, headers=headers)
    assert response.status_code == 429 and response.json()["message"].startswith("too many unfinished tries")
    assert tries(conn) == 2


def test_the_edge_function_answers_an_anonymous_user_403(imagine, standin, conn, anonymous):  # noqa: F811
    response = httpx.post(
        imagine, json={"prompt": "x", "n": 1}, headers=bearer(standin.keys.user(anonymous, anonymous=True))
    )
    assert response.status_code == 403, response.text
    assert response.json()["error"] == SIGN_UP
    assert tries(conn) == 0


def test_an_anonymous_user_registers_no_webhook_endpoint(conn, anonymous):
    with pytest.raises(psycopg.Error) as err, acting_as(conn, "authenticated", anonymous_claims(anonymous)):
        conn.execute("insert into imagen.webhook_endpoints (url) values ('https://example.com/hooks')")
    assert err.value.sqlstate == "PT403" and "sign up" in err.value.diag.message_primary
