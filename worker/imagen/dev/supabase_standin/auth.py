"""Auth (GoTrue) stand-in: /auth/v1/signup, /token (password and refresh_token grants), /user
(GET and PUT), /logout, and in auth_links.py /resend, /recover and /verify, with the real
server's request and response JSON, status codes and error codes, on the real database's auth
schema (auth.users, auth.identities, auth.sessions, auth.mfa_amr_claims, auth.refresh_tokens),
logged in as supabase_auth_admin like the real server.

Followed: supabase/auth at bc32168 (2026-08-20), internal/api/signup.go (Signup,
validateSignupParams, the /signup route in api.go), password.go (checkPasswordStrength),
mail.go (validateEmail, badoux/checkmail's format), token.go (Token,
ResourceOwnerPasswordGrant), token_refresh.go and tokens/service.go (RefreshTokenGrant,
IssueRefreshToken, GenerateAccessToken), auth.go (requireAuthentication), user.go (UserGet,
UserUpdate's password), logout.go, errors.go and apiversions.go (the error bodies and
X-Supabase-Api-Version),
apierrors/errorcode.go; models/user.go, identity.go, sessions.go, amr.go, refresh_token.go.

Configured as `supabase/config.toml`'s [auth] says, as the CLI configures a local Auth server:
jwt_expiry, enable_signup, [auth.email] enable_signup, minimum_password_length,
enable_refresh_token_rotation, refresh_token_reuse_interval, site_url,
additional_redirect_urls, the default group `authenticated` (GOTRUE_JWT_DEFAULT_GROUP_NAME),
audience `authenticated`; [auth.email] enable_confirmations (off: GOTRUE_MAILER_AUTOCONFIRM;
on, a hosted project's default: sign-up answers the bare user and mails a link, auth_mail.py,
with max_frequency, otp_length, otp_expiry and [auth.rate_limit] email_sent). A test picks
either mode per stand-in (AuthConfig), or AuthConfig.hosted(): a hosted project's built-in mailer
(auth_mail.py) and per-IP request limits (auth_limits.py). Settings it cannot honour (password character
requirements, phone or anonymous sign-ins) are refused when the stand-in starts.

Differences, all of them about what the stand-in leaves out: passwords are hashed by pgcrypto's
crypt(..., gen_salt('bf', 10)) in the database (the real server: Go's bcrypt, the same $2a$10$
hashes); refresh tokens are the legacy 12-character ones (GoTrue's default
refresh_token_algorithm_version); a refresh waits on the row lock where GoTrue retries a
SKIP LOCKED select for up to 5 s; mailed links are looked up on auth.users' token columns
(GoTrue also keeps them in auth.one_time_tokens) and only the implicit flow's redirect is made;
PUT /user changes the password and data only (no email or phone change, no reauthentication);
no audit log, hooks, captcha, session timebox or
inactivity timeout, single-session-per-user, PKCE, MFA, OTP codes, magic links, invites, OAuth,
SSO or admin API.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import uuid

import jwt
import psycopg
from aiohttp import web
from psycopg.types.json import Jsonb

from imagen.dev.supabase_standin.app_keys import AUTH_POOL, KEYS
from imagen.dev.supabase_standin.auth_config import AUTH_CONFIG, AuthConfig
from imagen.dev.supabase_standin.auth_errors import AuthError, bad_request, unexpected
from imagen.dev.supabase_standin.auth_mail import send_confirmation

NIL_INSTANCE = uuid.UUID(int=0)  # GoTrue keeps instance_id = uuid.Nil on every row it writes
AUDIENCE = "authenticated"  # GOTRUE_JWT_AUD
DEFAULT_GROUP = "authenticated"  # GOTRUE_JWT_DEFAULT_GROUP_NAME: the role of new users
API_VERSION_HEADER = "X-Supabase-Api-Version"
API_VERSION_2024_01_01 = dt.date(2024, 1, 1)
MAX_PASSWORD_LENGTH = 72  # bcrypt's limit (password.go)
INVALID_LOGIN = "Invalid login credentials"
# badoux/checkmail's ValidateFormat, which validateEmail uses.
EMAIL_FORMAT = re.compile(
    r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
)
LEGACY_REFRESH_TOKEN = re.compile(r"^[a-z0-9]{12}$")
BEARER = re.compile(r"^bearer (\S+)$", re.IGNORECASE)


# -- errors (errors.go, apierrors/apierrors.go) ---------------------------------------------


def api_version(request: web.Request) -> dt.date | None:
    """DetermineClosestAPIVersion: None is the initial version (also for an unparsable date)."""
    try:
        date = dt.date.fromisoformat(request.headers.get(API_VERSION_HEADER, ""))
    except ValueError:
        return None
    return API_VERSION_2024_01_01 if date >= API_VERSION_2024_01_01 else None


def error_response(request: web.Request, err: AuthError) -> web.Response:
    """HandleResponseError: `{code, message}` from API version 2024-01-01 on (echoing the version
    header), else the initial `{code: <status>, error_code, msg}` with x-sb-error-code."""
    version = api_version(request)
    headers = {API_VERSION_HEADER: version.isoformat()} if version else {}
    if version:
        body: dict = {"code": err.code, "message": err.message}
    else:
        body = {"code": err.status, "error_code": err.code, "msg": err.message}
        if err.status >= 500:
            body["error_id"] = str(uuid.uuid4())  # the request id
    if err.reasons is not None:
        body["weak_password"] = {"reasons": err.reasons}
    if err.reasons is None or not version:
        headers["x-sb-error-code"] = err.code
    return web.json_response(body, status=err.status, headers=headers)


def gotrue(handler):
    """Turns AuthError (and any database error, as handleResponseErrorDefault) into GoTrue's answer."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except AuthError as err:
            return error_response(request, err)
        except psycopg.Error:
            return error_response(
                request, unexpected("Unexpected failure, please check server logs for more information")
            )

    return handle


async def params(request: web.Request) -> dict:
    """retrieveRequestParams: the JSON body, fields of the wrong type refused as Go's decoder does."""
    raw = await request.read()
    try:
        body = json.loads(raw) if raw else None
    except json.JSONDecodeError as exc:
        raise bad_request("bad_json", f"Could not parse request body as JSON: {exc}") from exc
    if raw and body is None:
        body = {}
    if not isinstance(body, dict):
        why = "unexpected end of JSON input" if not raw else f"cannot unmarshal {type(body).__name__} into object"
        raise bad_request("bad_json", f"Could not parse request body as JSON: {why}")
    for key in ("email", "phone", "password", "refresh_token"):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise bad_request("bad_json", f"Could not parse request body as JSON: {key} must be a string")
    if body.get("data") is not None and not isinstance(body["data"], dict):
        raise bad_request("bad_json", "Could not parse request body as JSON: data must be an object")
    return body


# -- JSON as the models marshal it ---------------------------------------------------------


def go_time(value: dt.datetime | None) -> str | None:
    """time.Time's JSON: RFC 3339 with the fraction's trailing zeros cut, UTC as Z."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    text = value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").rstrip("0").rstrip(".")
    return text + "Z"


USER_SQL = """
select id, aud, role, email, email_confirmed_at, invited_at, phone, phone_confirmed_at,
       confirmation_sent_at, confirmed_at, recovery_sent_at, last_sign_in_at, raw_app_meta_data,
       raw_user_meta_data, created_at, updated_at, banned_until, deleted_at, is_anonymous,
       encrypted_password
from auth.users where instance_id = %s and {where}
"""
IDENTITIES_SQL = """
select id, provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at, email
from auth.identities where user_id = %s order by created_at, id
"""


async def find_user(conn: psycopg.AsyncConnection, where: str, *args) -> dict | None:
    """findUser: the user row and its identities (Eager), instance_id = uuid.Nil as GoTrue asks."""
    row = await (await conn.execute(USER_SQL.format(where=where), (NIL_INSTANCE, *args))).fetchone()
    if row is not None:
        row["identities"] = await (await conn.execute(IDENTITIES_SQL, (row["id"],))).fetchall()
    return row


def identity_json(identity: dict) -> dict:
    """models.Identity: the identity's own id is `identity_id`, the provider's id is `id`."""
    body = {
        "identity_id": str(identity["id"]),
        "id": identity["provider_id"],
        "user_id": str(identity["user_id"]),
        "identity_data": identity["identity_data"],
        "provider": identity["provider"],
        "last_sign_in_at": go_time(identity["last_sign_in_at"]),
        "created_at": go_time(identity["created_at"]),
        "updated_at": go_time(identity["updated_at"]),
        "email": identity["email"],
    }
    for key in ("identity_data", "last_sign_in_at", "email"):  # omitempty
        if not body[key]:
            del body[key]
    return body


def user_json(user: dict) -> dict:
    """models.User's JSON, in its field order; the omitempty times only when set."""
    fields = (
        ("id", str(user["id"])), ("aud", user["aud"] or ""), ("role", user["role"] or ""),
        ("email", user["email"] or ""), ("email_confirmed_at", go_time(user["email_confirmed_at"])),
        ("invited_at", go_time(user["invited_at"])), ("phone", user["phone"] or ""),
        ("phone_confirmed_at", go_time(user["phone_confirmed_at"])),
        ("confirmation_sent_at", go_time(user["confirmation_sent_at"])),
        ("confirmed_at", go_time(user["confirmed_at"])), ("recovery_sent_at", go_time(user["recovery_sent_at"])),
        ("last_sign_in_at", go_time(user["last_sign_in_at"])),
        ("app_metadata", user["raw_app_meta_data"] or {}), ("user_metadata", user["raw_user_meta_data"] or {}),
        ("identities", [identity_json(i) for i in user["identities"]]),
        ("created_at", go_time(user["created_at"])), ("updated_at", go_time(user["updated_at"])),
        ("banned_until", go_time(user["banned_until"])), ("deleted_at", go_time(user["deleted_at"])),
        ("is_anonymous", user["is_anonymous"]),
    )  # fmt: skip
    return {key: value for key, value in fields if value is not None}


def banned(user: dict) -> bool:
    return user["banned_until"] is not None and dt.datetime.now(dt.UTC) < user["banned_until"]


def client_ip(request: web.Request) -> str | None:
    """utilities.GetIPAddress: the first X-Forwarded-For address, else the peer."""
    forwarded = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
    return forwarded or request.remote


# -- sessions and tokens (tokens/service.go, models/refresh_token.go, sessions.go, amr.go) ---


def new_refresh_token() -> str:
    """crypto.SecureAlphanumeric(12): lower-case base32 of random bytes."""
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    return "".join(secrets.choice(alphabet) for _ in range(12))


INSERT_REFRESH_TOKEN = """
insert into auth.refresh_tokens (instance_id, token, user_id, revoked, created_at, updated_at, parent, session_id)
values (%s, %s, %s, false, now(), now(), %s, %s) returning token
"""


async def access_token(request: web.Request, conn, user: dict, session_id: uuid.UUID) -> tuple[str, int]:
    """GenerateAccessToken: the claims GoTrue signs; aal and amr from the session's AMR claims."""
    config: AuthConfig = request.app[AUTH_CONFIG]
    session = await (await conn.execute("select aal from auth.sessions where id = %s", (session_id,))).fetchone()
    if session is None:
        raise bad_request("session_not_found", "Session not found")
    claims_rows = await (
        await conn.execute(
            "select authentication_method, updated_at from auth.mfa_amr_claims where session_id = %s", (session_id,)
        )
    ).fetchall()
    amr = sorted(
        ({"method": r["authentication_method"], "timestamp": int(r["updated_at"].timestamp())} for r in claims_rows),
        key=lambda entry: -entry["timestamp"],
    )
    aal2 = any(r["authentication_method"] in ("totp", "mfa/phone", "mfa/webauthn") for r in claims_rows)
    aal = "aal2" if aal2 else "aal1"  # Session.CalculateAALAndAMR
    issued = int(dt.datetime.now(dt.UTC).timestamp())
    expires = issued + config.jwt_expiry
    claims = {
        "iss": f"{request.url.origin()}/auth/v1",  # GOTRUE_JWT_ISSUER: the API's external URL
        "sub": str(user["id"]),
        "aud": user["aud"],
        "exp": expires,
        "iat": issued,
        "email": user["email"] or "",
        "phone": user["phone"] or "",
        "app_metadata": user["raw_app_meta_data"] or {},
        "user_metadata": user["raw_user_meta_data"] or {},
        "role": user["role"] or "",
        "aal": aal,
        "amr": amr,
        "session_id": str(session_id),
        "is_anonymous": user["is_anonymous"],
    }
    return request.app[KEYS].sign(claims), expires


async def add_claim_to_session(conn, session_id: uuid.UUID, method: str) -> None:
    """models.AddClaimToSession."""
    await conn.execute(
        "insert into auth.mfa_amr_claims (id, session_id, created_at, updated_at, authentication_method)"
        " values (gen_random_uuid(), %s, now(), now(), %s)"
        " on conflict on constraint mfa_amr_claims_session_id_authentication_method_pkey"
        " do update set updated_at = excluded.updated_at",
        (session_id, method),
    )


async def issue_refresh_token(request: web.Request, conn, user_id: uuid.UUID, method: str) -> tuple[dict, dict]:
    """IssueRefreshToken (legacy tokens): a new session and its first refresh token, the user's
    last_sign_in_at, the AMR claim, an access token. Returns (AccessTokenResponse, headers)."""
    session_id = uuid.uuid4()
    await conn.execute(
        "insert into auth.sessions (id, user_id, created_at, updated_at, aal, user_agent, ip)"
        " values (%s, %s, now(), now(), 'aal1', %s, %s)",
        (session_id, user_id, request.headers.get("User-Agent"), client_ip(request)),
    )
    token = new_refresh_token()
    await conn.execute(INSERT_REFRESH_TOKEN, (NIL_INSTANCE, token, str(user_id), None, session_id))
    await conn.execute("update auth.users set last_sign_in_at = now(), updated_at = now() where id = %s", (user_id,))
    await add_claim_to_session(conn, session_id, method)
    user = await find_user(conn, "id = %s", user_id)
    signed, expires = await access_token(request, conn, user, session_id)
    headers = {"sb-auth-user-id": str(user_id), "sb-auth-session-id": str(session_id),
               "sb-auth-refresh-token-prefix": token[:5]}  # fmt: skip
    return token_response(signed, expires, token, user), headers


def token_response(signed: str, expires: int, refresh_token: str, user: dict) -> dict:
    """tokens.AccessTokenResponse."""
    return {
        "access_token": signed,
        "token_type": "bearer",
        "expires_in": expires - int(dt.datetime.now(dt.UTC).timestamp()),
        "expires_at": expires,
        "refresh_token": refresh_token,
        "user": user_json(user),
    }


def check_password_strength(config: AuthConfig, password: str) -> AuthError | None:
    """checkPasswordStrength (no character requirements, no HaveIBeenPwned check)."""
    if len(password.encode()) > MAX_PASSWORD_LENGTH:
        return bad_request("validation_failed", f"Password cannot be longer than {MAX_PASSWORD_LENGTH} characters")
    if len(password) < config.minimum_password_length:
        message = f"Password should be at least {config.minimum_password_length} characters."
        return AuthError(422, "weak_password", message, reasons=["length"])
    return None


def validate_email(email: str) -> str:
    """validateEmail (mail.go)."""
    if not email:
        raise bad_request("validation_failed", "An email address is required")
    if len(email) > 255:
        raise bad_request("validation_failed", "An email address is too long")
    if not EMAIL_FORMAT.match(email):
        raise bad_request("validation_failed", "Unable to validate email address: invalid format")
    return email.lower()


# -- POST /auth/v1/signup (signup.go) ------------------------------------------------------


@gotrue
async def signup(request: web.Request) -> web.Response:
    config: AuthConfig = request.app[AUTH_CONFIG]
    p = await params(request)
    email, phone, password = p.get("email") or "", p.get("phone") or "", p.get("password") or ""
    if not email and not phone:  # the /signup route, before Signup
        raise AuthError(422, "anonymous_provider_disabled", "Anonymous sign-ins are disabled")
    if not config.enable_signup:
        raise AuthError(422, "signup_disabled", "Signups not allowed for this instance")
    data = p.get("data") or {}
    # validateSignupParams
    if not password:
        raise bad_request("validation_failed", "Signup requires a valid password")
    if weak := check_password_strength(config, password):
        raise weak
    if email and phone:
        raise bad_request("validation_failed", "Only an email address or phone number should be provided on signup.")
    if phone:
        raise bad_request("phone_provider_disabled", "Phone signups are disabled")
    if not config.email_signup:
        raise bad_request("email_provider_disabled", "Email signups are disabled")
    email = validate_email(email)
    async with request.app[AUTH_POOL].transaction() as conn:
        user = await duplicated_email(conn, email)
        if user is not None and user["email_confirmed_at"] is not None:
            if not config.enable_confirmations:  # UserExistsError; with autoconfirm on, GoTrue says so.
                raise AuthError(422, "user_already_exists", "User already registered")
            return web.json_response(sanitized_user(email, data))  # else it does not tell
        if user is None:
            user_id = uuid.uuid4()
            try:
                await conn.execute(
                    "insert into auth.users (instance_id, id, aud, role, email, encrypted_password,"
                    " raw_app_meta_data, raw_user_meta_data, is_sso_user, is_anonymous, created_at, updated_at)"
                    " values (%s, %s, %s, %s, %s, extensions.crypt(%s, extensions.gen_salt('bf', 10)),"
                    " %s, %s, false, false, now(), now())",
                    (NIL_INSTANCE, user_id, AUDIENCE, DEFAULT_GROUP, email, password,
                     Jsonb({"provider": "email", "providers": ["email"]}), Jsonb(data)),
                )  # fmt: skip
            except psycopg.Error as exc:
                raise unexpected("Database error saving new user") from exc
            # identityData = structs.Map(provider.Claims{Subject, Email}) plus the sign-up data.
            identity_data = {"email": email, "email_verified": False, "phone_verified": False, "sub": str(user_id)}
            identity_data |= {k: v for k, v in data.items() if k not in identity_data}
            await conn.execute(
                "insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at,"
                " created_at, updated_at) values (%s, %s, %s, 'email', now(), now(), now())",
                (str(user_id), user_id, Jsonb(identity_data)),
            )
        else:  # registered, never confirmed: not updated (its owner is not known), mailed again
            user_id = user["id"]
        if config.enable_confirmations:
            await send_confirmation(request, conn, await find_user(conn, "id = %s", user_id))
            return web.json_response(user_json(await find_user(conn, "id = %s", user_id)))
        await confirm(conn, user_id)
        body, headers = await issue_refresh_token(request, conn, user_id, "password")
    # The response carries the user as GoTrue holds it in memory: confirmed_at, a generated
    # column, is not read back after the confirmation.
    body["user"].pop("confirmed_at", None)
    return web.json_response(body, headers=headers)


async def confirm(conn, user_id: uuid.UUID) -> None:
    """user.Confirm: email_confirmed_at, and email_verified in the user's metadata."""
    await conn.execute(
        "update auth.users set email_confirmed_at = now(), confirmation_token = '', updated_at = now(),"
        " raw_user_meta_data = coalesce(raw_user_meta_data, '{}') || '{\"email_verified\": true}'"
        " where id = %s",
        (user_id,),
    )


def sanitized_user(email: str, data: dict) -> dict:
    """sanitizeUser: a repeated sign-up of a confirmed address answers a made-up unconfirmed user,
    so the answer does not tell whether the address is registered."""
    now = go_time(dt.datetime.now(dt.UTC))
    return {
        "id": str(uuid.uuid4()), "aud": AUDIENCE, "role": DEFAULT_GROUP, "email": email, "phone": "",
        "confirmation_sent_at": now, "app_metadata": {"provider": "email", "providers": ["email"]},
        "user_metadata": data, "identities": [], "created_at": now, "updated_at": now, "is_anonymous": False,
    }  # fmt: skip


async def duplicated_email(conn, email: str) -> dict | None:
    """models.IsDuplicatedEmail: a user of this audience with an identity of this email, else a
    user row with the email."""
    rows = await (
        await conn.execute("select distinct user_id from auth.identities where email = %s", (email,))
    ).fetchall()
    for row in rows:
        user = await find_user(conn, "id = %s", row["user_id"])
        if user is not None and user["aud"] == AUDIENCE:
            return user
    return await find_user(conn, "lower(email) = %s and aud = %s and is_sso_user = false", email, AUDIENCE)


# -- POST /auth/v1/token (token.go, token_refresh.go, tokens/service.go) --------------------


@gotrue
async def token(request: web.Request) -> web.Response:
    grant_type = request.query.get("grant_type", "")
    if grant_type == "password":
        return await password_grant(request)
    if grant_type == "refresh_token":
        return await refresh_token_grant(request)
    raise bad_request("invalid_credentials", "unsupported_grant_type")


async def password_grant(request: web.Request) -> web.Response:
    config: AuthConfig = request.app[AUTH_CONFIG]
    p = await params(request)
    email, phone, password = p.get("email") or "", p.get("phone") or "", p.get("password") or ""
    if email and phone:
        raise bad_request("validation_failed", "Only an email address or phone number should be provided on login.")
    if phone:
        raise AuthError(422, "phone_provider_disabled", "Phone logins are disabled")
    if not email:
        raise bad_request("validation_failed", "missing email or phone")
    if not config.email_signup:
        raise AuthError(422, "email_provider_disabled", "Email logins are disabled")
    async with request.app[AUTH_POOL].transaction() as conn:
        user = await find_user(conn, "lower(email) = %s and aud = %s and is_sso_user = false", email.lower(), AUDIENCE)
        if user is None or not user["encrypted_password"]:
            raise bad_request("invalid_credentials", INVALID_LOGIN)
        if banned(user):
            raise bad_request("user_banned", "User is banned")
        matches = await (
            await conn.execute(
                "select encrypted_password = extensions.crypt(%s, encrypted_password) as ok from auth.users"
                " where id = %s",
                (password, user["id"]),
            )
        ).fetchone()
        if not matches["ok"]:
            raise bad_request("invalid_credentials", INVALID_LOGIN)
        if user["email_confirmed_at"] is None:
            raise bad_request("email_not_confirmed", "Email not confirmed")
        body, headers = await issue_refresh_token(request, conn, user["id"], "password")
    # A weak password still signs in, and the answer says so.
    weak = check_password_strength(config, password)
    if weak is not None and weak.reasons is not None:
        body["weak_password"] = {"message": weak.message, "reasons": weak.reasons}
    return web.json_response(body, headers=headers)


async def refresh_token_grant(request: web.Request) -> web.Response:
    config: AuthConfig = request.app[AUTH_CONFIG]
    presented = (await params(request)).get("refresh_token") or ""
    # RefreshTokenGrantParams.Validate; tokens longer than 12 would be the v2 signed ones,
    # which this stand-in never issues.
    if len(presented) != 12 or not LEGACY_REFRESH_TOKEN.match(presented):
        raise bad_request("validation_failed", "Refresh token is not valid")
    not_found = bad_request("refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found")
    committed_error: AuthError | None = None
    headers: dict[str, str] = {}
    async with request.app[AUTH_POOL].transaction() as conn:
        token_row = await (
            await conn.execute("select * from auth.refresh_tokens where token = %s for update", (presented,))
        ).fetchone()
        if token_row is None:
            raise not_found
        user = await find_user(conn, "id = %s", uuid.UUID(token_row["user_id"]))
        if user is None:
            raise not_found
        headers["sb-auth-user-id"] = str(user["id"])
        if banned(user):
            raise bad_request("user_banned", "Invalid Refresh Token: User Banned")
        session = None
        if token_row["session_id"] is not None:
            session = await (
                await conn.execute("select * from auth.sessions where id = %s for update", (token_row["session_id"],))
            ).fetchone()
        if session is None:
            # A token from before sessions existed: GoTrue deletes it (and that is kept).
            await conn.execute("delete from auth.refresh_tokens where id = %s", (token_row["id"],))
            committed_error = bad_request("session_not_found", "Invalid Refresh Token: No Valid Session Found")
        elif session["not_after"] is not None and dt.datetime.now(dt.UTC) > session["not_after"]:
            raise bad_request("session_expired", "Invalid Refresh Token: Session Expired")
        else:
            headers["sb-auth-session-id"] = str(session["id"])
            issued, committed_error = await rotate(conn, config, token_row, user)
            if committed_error is None:
                signed, expires = await access_token(request, conn, user, session["id"])
                await conn.execute(
                    "update auth.sessions set refreshed_at = now() at time zone 'utc', user_agent = %s, ip = %s,"
                    " updated_at = now() where id = %s",
                    (request.headers.get("User-Agent"), client_ip(request), session["id"]),
                )
                headers["sb-auth-refresh-token-prefix"] = issued[:5]
    if committed_error is not None:  # storage.NewCommitWithError: the writes above stay
        raise committed_error
    return web.json_response(token_response(signed, expires, issued, user), headers=headers)


async def rotate(conn, config: AuthConfig, token_row: dict, user: dict) -> tuple[str, AuthError | None]:
    """The legacy refresh token branch of RefreshTokenGrant: a revoked token is answered with the
    session's active token when it is that token's parent (the client lost the last answer),
    swapped again within refresh_token_reuse_interval of its revocation, and otherwise refused
    as already used, revoking the whole session's tokens when rotation is on."""
    if token_row["revoked"]:
        active = await (
            await conn.execute(
                "select token, parent from auth.refresh_tokens where session_id = %s and revoked is false"
                " order by id desc limit 1",
                (token_row["session_id"],),
            )
        ).fetchone()
        if active is not None and active["parent"] == token_row["token"]:
            return active["token"], None
        reuse_until = token_row["updated_at"] + dt.timedelta(seconds=config.refresh_token_reuse_interval)
        if dt.datetime.now(dt.UTC) > reuse_until:
            if config.refresh_token_rotation:  # models.RevokeTokenFamily
                await conn.execute(
                    "update auth.refresh_tokens set revoked = true, updated_at = now()"
                    " where session_id = %s and revoked = false",
                    (token_row["session_id"],),
                )
            return "", bad_request("refresh_token_already_used", "Invalid Refresh Token: Already Used")
    # models.GrantRefreshTokenSwap
    await conn.execute(
        "update auth.refresh_tokens set revoked = true, updated_at = now() where id = %s", (token_row["id"],)
    )
    new_token = new_refresh_token()
    await conn.execute(
        INSERT_REFRESH_TOKEN, (NIL_INSTANCE, new_token, str(user["id"]), token_row["token"], token_row["session_id"])
    )
    return new_token, None


# -- requireAuthentication (auth.go), GET /auth/v1/user (user.go), POST /auth/v1/logout ------


async def require_authentication(request: web.Request, conn) -> tuple[dict, dict, dict | None]:
    """The bearer token's claims, its user and (when it names one) its session."""
    match = BEARER.match(request.headers.get("Authorization", ""))
    if match is None:
        raise AuthError(401, "no_authorization", "This endpoint requires a valid Bearer token")
    try:
        claims = jwt.decode(match[1], request.app[KEYS].secret, algorithms=["HS256"], options={"verify_aud": False})
    except jwt.PyJWTError as exc:
        raise AuthError(403, "bad_jwt", f"invalid JWT: unable to parse or verify signature, {exc}") from exc
    if not claims.get("sub"):
        raise AuthError(403, "bad_jwt", "invalid claim: missing sub claim")
    try:
        user_id = uuid.UUID(claims["sub"])
    except (ValueError, TypeError) as exc:
        raise bad_request("bad_jwt", "invalid claim: sub claim must be a UUID") from exc
    user = await find_user(conn, "id = %s", user_id)
    if user is None:
        raise AuthError(403, "user_not_found", "User from sub claim in JWT does not exist")
    session = None
    if (sid := claims.get("session_id")) and sid != str(NIL_INSTANCE):
        try:
            session_id = uuid.UUID(sid)
        except (ValueError, TypeError) as exc:
            raise AuthError(403, "bad_jwt", "invalid claim: session_id claim must be a UUID") from exc
        session = await (await conn.execute("select * from auth.sessions where id = %s", (session_id,))).fetchone()
        if session is None:
            raise AuthError(403, "session_not_found", "Session from session_id claim in JWT does not exist")
    if banned(user):
        raise AuthError(403, "user_banned", "User is banned")
    return claims, user, session


@gotrue
async def get_user(request: web.Request) -> web.Response:
    async with request.app[AUTH_POOL].transaction() as conn:
        claims, user, _ = await require_authentication(request, conn)
    # requestAud: the X-JWT-AUD header, else the token's own audience (not for admin roles).
    token_aud = claims.get("aud")
    token_aud = token_aud[0] if isinstance(token_aud, list) and token_aud else token_aud
    aud = request.headers.get("X-JWT-AUD") or (
        token_aud if claims.get("role") not in ("service_role", "supabase_admin") and token_aud else AUDIENCE
    )
    if not token_aud or aud != token_aud:
        raise bad_request("validation_failed", "Token audience doesn't match request audience")
    return web.json_response(user_json(user))


@gotrue
async def update_user(request: web.Request) -> web.Response:
    """PUT /user (UserUpdate), the password and the user's data only: a new password that is the
    old one is refused; the user's other sessions end (user.UpdatePassword)."""
    config: AuthConfig = request.app[AUTH_CONFIG]
    p = await params(request)
    if p.get("email") or p.get("phone"):
        raise bad_request("validation_failed", "the Auth stand-in does not change email addresses or phone numbers")
    async with request.app[AUTH_POOL].transaction() as conn:
        _, user, session = await require_authentication(request, conn)
        if (password := p.get("password")) is not None:
            if weak := check_password_strength(config, password):
                raise weak
            same = await (
                await conn.execute(
                    "select encrypted_password = extensions.crypt(%s, encrypted_password) as same from auth.users"
                    " where id = %s",
                    (password, user["id"]),
                )
            ).fetchone()
            if same["same"]:
                raise AuthError(422, "same_password", "New password should be different from the old password.")
            await conn.execute(
                "update auth.users set encrypted_password = extensions.crypt(%s, extensions.gen_salt('bf', 10)),"
                " updated_at = now() where id = %s",
                (password, user["id"]),
            )
            await conn.execute(
                "delete from auth.sessions where user_id = %s and id is distinct from %s",
                (user["id"], session["id"] if session else None),
            )
        if p.get("data"):
            await conn.execute(
                "update auth.users set raw_user_meta_data = coalesce(raw_user_meta_data, '{}') || %s,"
                " updated_at = now() where id = %s",
                (Jsonb(p["data"]), user["id"]),
            )
        user = await find_user(conn, "id = %s", user["id"])
    return web.json_response(user_json(user))


@gotrue
async def logout(request: web.Request) -> web.Response:
    scope = request.query.get("scope", "") or "global"
    if scope not in ("global", "local", "others"):
        raise bad_request("validation_failed", f'Unsupported logout scope "{scope}"')
    async with request.app[AUTH_POOL].transaction() as conn:
        _, user, session = await require_authentication(request, conn)
        if session is not None and scope == "local":
            await conn.execute("delete from auth.sessions where id = %s", (session["id"],))
        elif session is not None and scope == "others":
            await conn.execute("delete from auth.sessions where id != %s and user_id = %s", (session["id"], user["id"]))
        else:  # models.Logout: every session of the user, their refresh tokens with them
            await conn.execute("delete from auth.sessions where user_id = %s", (user["id"],))
    return web.Response(status=204)


def routes() -> list[web.RouteDef]:
    return [
        web.post("/auth/v1/signup", signup),
        web.post("/auth/v1/token", token),
        web.get("/auth/v1/user", get_user),
        web.put("/auth/v1/user", update_user),
        web.post("/auth/v1/logout", logout),
    ]
