"""The Auth (GoTrue) stand-in, driven by the official client (supabase-py's auth, supabase_auth):
sign-up, sign-in, refresh-token rotation, the user, sign-out, with GoTrue's answers and error
codes; its access tokens are what PostgREST's stand-in and the real RLS take for that user. And
the gateway's CORS, so that a page of another origin can use the stand-in."""

from __future__ import annotations

import contextlib
import uuid

import httpx
import jwt
import psycopg
import pytest
from supabase import ClientOptions, create_client
from supabase_auth.errors import AuthApiError, AuthWeakPasswordError

from tests.database import with_dbname

PASSWORD = "correct horse"
SUPABASE_JS_HEADERS = ("authorization", "apikey", "content-type", "x-client-info", "x-supabase-api-version",
                       "accept-profile", "content-profile", "prefer", "range", "x-upsert", "cache-control")  # fmt: skip


@contextlib.contextmanager
def project_client(standin):
    """As a frontend makes it: the anon key, no session yet (no refresh timer either)."""
    client = create_client(standin.url, standin.keys.anon, options=ClientOptions(auto_refresh_token=False))
    try:
        yield client
    finally:
        client.auth.close()
        if client._postgrest is not None:  # made anew on each auth event, the last one open
            client._postgrest.session.close()


@pytest.fixture
def client(standin):
    with project_client(standin) as c:
        yield c


@pytest.fixture
def admin(pg_server, db_url):
    """The platform's superuser on the test's database: for what only time or the platform does."""
    with psycopg.connect(with_dbname(pg_server.admin_url, db_url.rsplit("/", 1)[1]), autocommit=True) as c:
        yield c


def sign_up(client, email="alice@example.com", password=PASSWORD, **data):
    return client.auth.sign_up({"email": email, "password": password, "options": {"data": data}})


def claims_of(standin, token: str) -> dict:
    return jwt.decode(token, standin.keys.secret, algorithms=["HS256"], audience="authenticated")


def test_sign_up_answers_with_a_session_for_the_new_confirmed_user(standin, client, conn):
    answer = sign_up(client, "Alice@Example.com", name="Alice")
    session, user = answer.session, answer.user
    assert session is not None and session.token_type == "bearer" and session.expires_in == 3600
    assert len(session.refresh_token) == 12
    assert user.email == "alice@example.com" and user.role == "authenticated" and user.aud == "authenticated"
    assert user.app_metadata == {"provider": "email", "providers": ["email"]}
    assert user.user_metadata == {"name": "Alice", "email_verified": True}
    assert user.email_confirmed_at is not None and user.last_sign_in_at is not None
    assert [(i.provider, i.id, i.identity_data["email"]) for i in user.identities] == [
        ("email", user.id, "alice@example.com")
    ]
    claims = claims_of(standin, session.access_token)
    assert claims["sub"] == user.id and claims["role"] == "authenticated" and claims["aud"] == "authenticated"
    assert claims["email"] == "alice@example.com" and claims["phone"] == "" and claims["is_anonymous"] is False
    assert claims["exp"] - claims["iat"] == 3600 and claims["exp"] == session.expires_at
    assert claims["aal"] == "aal1" and [a["method"] for a in claims["amr"]] == ["password"]
    assert claims["app_metadata"] == user.app_metadata and claims["user_metadata"] == user.user_metadata
    session_user = conn.execute("select user_id from auth.sessions where id = %s", (claims["session_id"],)).fetchone()
    assert session_user == (uuid.UUID(user.id),)


def test_the_password_is_kept_only_as_a_bcrypt_hash(client, conn):
    user = sign_up(client).user
    stored = conn.execute("select encrypted_password from auth.users where id = %s", (user.id,)).fetchone()[0]
    assert stored.startswith("$2a$10$") and PASSWORD not in stored


def test_sign_in_with_the_right_password(standin, client):
    user = sign_up(client).user
    with project_client(standin) as other:
        answer = other.auth.sign_in_with_password({"email": "ALICE@example.com", "password": PASSWORD})
    assert answer.user.id == user.id
    assert claims_of(standin, answer.session.access_token)["sub"] == user.id


@pytest.mark.parametrize("email", ["alice@example.com", "nobody@example.com"])
def test_a_wrong_password_or_an_unknown_email_are_invalid_credentials(client, email):
    sign_up(client)
    with pytest.raises(AuthApiError) as err:
        client.auth.sign_in_with_password({"email": email, "password": "not the password"})
    assert (err.value.status, err.value.code, err.value.message) == (
        400,
        "invalid_credentials",
        "Invalid login credentials",
    )


def test_signing_up_twice_is_user_already_exists(standin, client):
    sign_up(client)
    with project_client(standin) as other, pytest.raises(AuthApiError) as err:
        sign_up(other, "ALICE@example.com", "another password")
    assert (err.value.status, err.value.code, err.value.message) == (
        422,
        "user_already_exists",
        "User already registered",
    )


def test_a_short_password_is_a_weak_password(client, conn):
    with pytest.raises(AuthWeakPasswordError) as err:
        sign_up(client, password="12345")
    assert (err.value.status, err.value.code, err.value.reasons) == (422, "weak_password", ["length"])
    assert err.value.message == "Password should be at least 6 characters."
    assert conn.execute("select count(*) from auth.users").fetchone()[0] == 0


def test_a_malformed_email_is_validation_failed(client):
    with pytest.raises(AuthApiError) as err:
        sign_up(client, email="not an email")
    assert (err.value.status, err.value.code) == (400, "validation_failed")
    assert err.value.message == "Unable to validate email address: invalid format"


def test_error_bodies_follow_the_api_version_header(standin):
    url, body = f"{standin.url}/auth/v1/signup", {"email": "a@example.com", "password": "12345"}
    legacy = httpx.post(url, json=body, headers={"apikey": standin.keys.anon})
    assert legacy.status_code == 422 and legacy.headers["x-sb-error-code"] == "weak_password"
    weak = {"reasons": ["length"]}
    assert legacy.json() == {"code": 422, "error_code": "weak_password",
                             "msg": "Password should be at least 6 characters.", "weak_password": weak}  # fmt: skip
    headers = {"apikey": standin.keys.anon, "X-Supabase-Api-Version": "2024-01-01"}
    versioned = httpx.post(url, json=body, headers=headers)
    assert versioned.headers["X-Supabase-Api-Version"] == "2024-01-01"
    assert versioned.json() == {"code": "weak_password", "message": "Password should be at least 6 characters.",
                                "weak_password": weak}  # fmt: skip


def test_auth_wants_the_project_apikey(standin):
    missing = httpx.post(f"{standin.url}/auth/v1/signup", json={})
    assert missing.status_code == 401 and missing.json()["message"] == "No API key found in request"
    user_token = standin.keys.user(uuid.uuid4())
    wrong = httpx.post(f"{standin.url}/auth/v1/signup", json={}, headers={"apikey": user_token})
    assert wrong.status_code == 401 and wrong.json()["message"] == "Invalid API key"


def test_a_refresh_rotates_the_token_and_an_old_one_is_refused(standin, client, conn, admin):
    first = sign_up(client).session
    second = client.auth.refresh_session(first.refresh_token).session
    assert second.refresh_token != first.refresh_token
    assert claims_of(standin, second.access_token)["session_id"] == claims_of(standin, first.access_token)["session_id"]
    revoked = dict(conn.execute("select token, revoked from auth.refresh_tokens").fetchall())
    assert revoked == {first.refresh_token: True, second.refresh_token: False}
    # The client lost the answer: the revoked parent of the active token gets the active one back.
    assert client.auth.refresh_session(first.refresh_token).session.refresh_token == second.refresh_token
    third = client.auth.refresh_session(second.refresh_token).session
    # Past refresh_token_reuse_interval (10 s in supabase/config.toml) the first token is refused,
    # and every token of its session is revoked.
    admin.execute("update auth.refresh_tokens set updated_at = now() - interval '11 seconds' where token = %s",
                  (first.refresh_token,))  # fmt: skip
    with pytest.raises(AuthApiError) as err:
        client.auth.refresh_session(first.refresh_token)
    assert (err.value.status, err.value.code) == (400, "refresh_token_already_used")
    assert err.value.message == "Invalid Refresh Token: Already Used"
    active = conn.execute("select revoked from auth.refresh_tokens where token = %s", (third.refresh_token,))
    assert active.fetchone() == (True,)


def test_an_unknown_refresh_token_is_not_found(client):
    with pytest.raises(AuthApiError) as err:
        client.auth.refresh_session("abcdefghijkl")
    assert (err.value.status, err.value.code) == (400, "refresh_token_not_found")


def test_get_user_reads_the_user_of_the_access_token(standin, client):
    session = sign_up(client, name="Alice").session
    user = client.auth.get_user(session.access_token).user
    assert (user.id, user.email, user.user_metadata["name"]) == (session.user.id, "alice@example.com", "Alice")
    with pytest.raises(AuthApiError) as err:
        client.auth.get_user(standin.keys.anon)
    assert (err.value.status, err.value.code) == (403, "bad_jwt")


def test_sign_out_revokes_the_refresh_tokens_and_the_session(client, conn):
    session = sign_up(client).session
    client.auth.sign_out()
    assert client.auth.get_session() is None
    assert conn.execute("select count(*) from auth.sessions").fetchone()[0] == 0
    with pytest.raises(AuthApiError) as err:
        client.auth.refresh_session(session.refresh_token)
    assert (err.value.status, err.value.code) == (400, "refresh_token_not_found")
    with pytest.raises(AuthApiError) as err:
        client.auth.get_user(session.access_token)
    assert (err.value.status, err.value.code) == (403, "session_not_found")


def create_series(client) -> dict:
    args = {"prompt": "a heron", "n": 2, "settings": {"width": 256, "height": 256}}
    return client.schema("imagen").rpc("create_series", args).execute().data


def test_the_signed_in_user_calls_postgrest_as_itself_and_rls_sees_it(standin, client, conn):
    user = sign_up(client).user
    series = create_series(client)  # the client now sends the session's access token
    owner = conn.execute("select owner_id from imagen.series where id = %s", (series["id"],)).fetchone()[0]
    assert owner == uuid.UUID(user.id)
    assert [s["id"] for s in client.schema("imagen").table("series").select("id").execute().data] == [series["id"]]
    with project_client(standin) as bob:
        sign_up(bob, "bob@example.com")
        assert bob.schema("imagen").table("series").select("id").execute().data == []
        assert bob.schema("imagen").table("jobs").select("id").execute().data == []


def test_a_browser_preflight_is_answered_with_the_cors_headers(standin):
    asked = "authorization, apikey, content-type, x-client-info, x-supabase-api-version"
    for path in ("/auth/v1/token?grant_type=password", "/rest/v1/rpc/create_series", "/storage/v1/object/x/y"):
        preflight = httpx.options(f"{standin.url}{path}", headers={
            "Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": asked,
        })  # fmt: skip
        assert preflight.status_code == 200, path
        assert preflight.headers["Access-Control-Allow-Origin"] == "*"
        assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
        allowed = {h.strip() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")}
        assert set(SUPABASE_JS_HEADERS) <= allowed, path
    answer = httpx.post(f"{standin.url}/auth/v1/token?grant_type=password", json={"email": "a@example.com"},
                        headers={"apikey": standin.keys.anon, "Origin": "http://localhost:5173"})  # fmt: skip
    assert answer.status_code == 400 and answer.headers["Access-Control-Allow-Origin"] == "*"
    assert "X-Supabase-Api-Version" in answer.headers["Access-Control-Expose-Headers"]
