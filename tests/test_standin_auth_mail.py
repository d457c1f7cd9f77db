"""The Auth stand-in with email confirmations on (a hosted project's default): sign-up answers the
bare user and mails a link to /verify over SMTP to the mail catcher; signing in before confirming,
a repeated sign-up, /resend, /recover with PUT /user, and the 429s, as supabase/auth answers them."""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from imagen.dev.supabase_standin import SupabaseStandIn
from imagen.dev.supabase_standin.auth_config import AuthConfig
from tests.database import with_dbname

PASSWORD = "correct horse"
SITE = "http://127.0.0.1:3000/"


@pytest.fixture
def confirming(db_url, pg_server):
    # max_frequency 60 s (config.toml's 1 s would make "too soon" depend on this machine's speed).
    config = dataclasses.replace(
        AuthConfig.from_config_toml(), enable_confirmations=True, email_sent=4, max_frequency=60
    )
    admin_url = with_dbname(pg_server.admin_url, db_url.rsplit("/", 1)[1])
    with SupabaseStandIn(db_url, admin_url=admin_url, auth_config=config) as server:
        yield server


def auth(standin, method: str, path: str, **kwargs) -> httpx.Response:
    headers = {"apikey": standin.keys.anon, "X-Supabase-Api-Version": "2024-01-01"} | kwargs.pop("headers", {})
    return httpx.request(method, f"{standin.url}/auth/v1/{path}", headers=headers, follow_redirects=False, **kwargs)


def fragment(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).fragment).items()}


def test_sign_up_mails_a_link_that_confirms_and_signs_in(confirming):
    email = "carol@example.com"
    answer = auth(
        confirming, "POST", "signup", params={"redirect_to": SITE}, json={"email": email, "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    assert "access_token" not in answer.json()
    assert answer.json()["email"] == email and "email_confirmed_at" not in answer.json()
    early = auth(
        confirming, "POST", "token", params={"grant_type": "password"}, json={"email": email, "password": PASSWORD}
    )
    assert (early.status_code, early.json()["code"]) == (400, "email_not_confirmed")
    [mail] = confirming.inbox(email)
    assert mail["subject"] == "Confirm Your Email"
    [link] = mail["links"]
    assert link.startswith(f"{confirming.url}/auth/v1/verify?") and parse_qs(urlsplit(link).query)["type"] == ["signup"]
    verified = httpx.get(link, follow_redirects=False)
    assert verified.status_code == 303 and verified.headers["Location"].startswith(SITE + "#")
    session = fragment(verified.headers["Location"])
    assert session["type"] == "signup" and session["token_type"] == "bearer" and len(session["refresh_token"]) == 12
    again = httpx.get(link, follow_redirects=False)  # a link works once
    assert fragment(again.headers["Location"])["error_code"] == "otp_expired"
    signed_in = auth(
        confirming, "POST", "token", params={"grant_type": "password"}, json={"email": email, "password": PASSWORD}
    )
    assert signed_in.status_code == 200
    # A repeated sign-up of the confirmed address: 200 with a made-up user, not 422, and no mail.
    repeated = auth(confirming, "POST", "signup", json={"email": email, "password": PASSWORD})
    assert repeated.status_code == 200 and repeated.json()["id"] != answer.json()["id"]
    assert repeated.json()["identities"] == [] and len(confirming.inbox(email)) == 1


def test_recover_resend_and_the_rate_limits(confirming, conn):
    email = "dave@example.com"
    auth(confirming, "POST", "signup", json={"email": email, "password": PASSWORD}).raise_for_status()
    # max_frequency (1 s in supabase/config.toml) per user and kind of mail.
    too_soon = auth(confirming, "POST", "resend", json={"type": "signup", "email": email})
    assert (too_soon.status_code, too_soon.json()["code"]) == (429, "over_email_send_rate_limit")
    assert too_soon.json()["message"].startswith("For security purposes, you can only request this after ")
    conn.execute(
        "update auth.users set confirmation_sent_at = now() - interval '61 seconds' where email = %s", (email,)
    )
    assert auth(confirming, "POST", "resend", json={"type": "signup", "email": email}).json() == {}
    first, second = confirming.inbox(email)
    assert first["links"] != second["links"]  # a new token: the first link no longer works
    assert (
        fragment(httpx.get(first["links"][0], follow_redirects=False).headers["Location"])["error"] == "access_denied"
    )
    assert auth(confirming, "POST", "recover", json={"email": "nobody@example.com"}).json() == {}
    recovered = auth(confirming, "POST", "recover", json={"email": email}, headers={"Referer": SITE})
    assert recovered.status_code == 200 and recovered.json() == {}
    [mail] = [m for m in confirming.inbox(email) if m["subject"] == "Reset Your Password"]
    session = fragment(httpx.get(mail["links"][0], follow_redirects=False).headers["Location"])
    assert session["type"] == "recovery"
    bearer = {"Authorization": f"Bearer {session['access_token']}"}
    same = auth(confirming, "PUT", "user", headers=bearer, json={"password": PASSWORD})
    assert (same.status_code, same.json()["code"]) == (422, "same_password")
    assert auth(confirming, "PUT", "user", headers=bearer, json={"password": "new horse"}).status_code == 200
    new = auth(
        confirming, "POST", "token", params={"grant_type": "password"}, json={"email": email, "password": "new horse"}
    )
    assert new.status_code == 200
    # email_sent = 4 an hour for the whole project: sign-up, resend and recovery spent 3.
    auth(confirming, "POST", "signup", json={"email": "erin@example.com", "password": PASSWORD}).raise_for_status()
    spent = auth(confirming, "POST", "signup", json={"email": "frank@example.com", "password": PASSWORD})
    assert (spent.status_code, spent.json()["message"]) == (429, "Email rate limit exceeded")
    assert confirming.inbox("frank@example.com") == []
