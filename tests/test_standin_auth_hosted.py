"""The Auth stand-in as a hosted project runs it (AuthConfig.hosted()): the built-in mailer sends
only to the team's addresses and refuses example and test domains, per-IP request limits, and a
60 s resend interval, with supabase/auth's codes and messages."""

from __future__ import annotations

import httpx
import pytest

from imagen.dev.supabase_standin import SupabaseStandIn
from imagen.dev.supabase_standin.auth_config import AuthConfig
from tests.database import with_dbname

PASSWORD = "correct horse"
TEAM = "owner@imagen.dev"


@pytest.fixture
def hosted(db_url, pg_server):
    admin_url = with_dbname(pg_server.admin_url, db_url.rsplit("/", 1)[1])
    config = AuthConfig.hosted(team_addresses=(TEAM,), email_sent=10)
    with SupabaseStandIn(db_url, admin_url=admin_url, auth_config=config) as server:
        yield server


def auth(standin, method: str, path: str, ip: str = "203.0.113.7", **kwargs) -> httpx.Response:
    headers = {"apikey": standin.keys.anon, "X-Supabase-Api-Version": "2024-01-01", "X-Forwarded-For": ip}
    return httpx.request(method, f"{standin.url}/auth/v1/{path}", headers=headers, **kwargs)


def users(conn, email: str) -> int:
    return conn.execute("select count(*) from auth.users where email = %s", (email,)).fetchone()[0]


def test_the_built_in_mailer_sends_only_to_the_team_and_makes_no_user_for_anyone_else(hosted, conn):
    outsider = "someone@imagen.dev"
    refused = auth(hosted, "POST", "signup", json={"email": outsider, "password": PASSWORD})
    assert refused.status_code == 400
    message = f'Email address "{outsider}" cannot be used as it is not authorized'
    assert refused.json() == {"code": "email_address_not_authorized", "message": message}
    assert users(conn, outsider) == 0 and hosted.inbox(outsider) == []
    # The team's address, with a +label, is the team's: mailed, and the user made.
    labelled = "owner+imagen@imagen.dev"
    assert auth(hosted, "POST", "signup", json={"email": labelled, "password": PASSWORD}).status_code == 200
    assert users(conn, labelled) == 1 and len(hosted.inbox(labelled)) == 1


def test_an_example_domain_is_refused_as_invalid(db_url, pg_server, conn):
    admin_url = with_dbname(pg_server.admin_url, db_url.rsplit("/", 1)[1])
    config = AuthConfig.hosted(team_addresses=("ed@example.com",))
    with SupabaseStandIn(db_url, admin_url=admin_url, auth_config=config) as standin:
        refused = auth(standin, "POST", "signup", json={"email": "ed@example.com", "password": PASSWORD})
    assert (refused.status_code, refused.json()["code"]) == (400, "email_address_invalid")
    assert refused.json()["message"] == 'Email address "ed@example.com" is invalid'
    assert users(conn, "ed@example.com") == 0


def test_a_resend_within_60_s_says_when_it_may_be_asked_again(hosted):
    auth(hosted, "POST", "signup", json={"email": TEAM, "password": PASSWORD})
    again = auth(hosted, "POST", "resend", json={"type": "signup", "email": TEAM})
    assert (again.status_code, again.json()["code"]) == (429, "over_email_send_rate_limit")
    assert again.json()["message"].startswith("For security purposes, you can only request this after 5")


def test_thirty_sign_ups_recoveries_and_resends_from_one_address_in_5_minutes_and_no_more(hosted):
    answers = [auth(hosted, "POST", "recover", json={"email": f"n{i}@imagen.dev"}).status_code for i in range(30)]
    assert set(answers) == {200}
    over = auth(hosted, "POST", "signup", json={"email": "late@imagen.dev", "password": PASSWORD})
    assert over.status_code == 429
    assert over.json() == {"code": "over_request_rate_limit", "message": "Request rate limit reached"}
    # Another address has a bucket of its own; token requests have theirs (150).
    assert auth(hosted, "POST", "recover", ip="198.51.100.1", json={"email": "x@imagen.dev"}).status_code == 200
    token = auth(hosted, "POST", "token", params={"grant_type": "password"},
                 json={"email": TEAM, "password": PASSWORD})  # fmt: skip
    assert token.json()["code"] == "invalid_credentials"
