"""The Auth stand-in's endpoints that send mail or follow its link: POST /resend, POST /recover,
GET /verify (supabase/auth internal/api resend.go, recover.go, verify.go; the mail: auth_mail.py)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from aiohttp import web

from imagen.dev.supabase_standin.app_keys import AUTH_POOL
from imagen.dev.supabase_standin.auth import (
    AUDIENCE,
    bad_request,
    confirm,
    find_user,
    gotrue,
    issue_refresh_token,
    params,
    validate_email,
)
from imagen.dev.supabase_standin.auth_config import AUTH_CONFIG, AuthConfig
from imagen.dev.supabase_standin.auth_mail import send_confirmation, send_recovery
from imagen.dev.supabase_standin.auth_redirects import redirect_valid


async def email_param(request: web.Request) -> tuple[dict, str]:
    """The body, and its email validated (phone refused: phone logins are off)."""
    p = await params(request)
    if p.get("phone"):
        raise bad_request("phone_provider_disabled", "Phone logins are disabled")
    if not request.app[AUTH_CONFIG].email_signup:
        raise bad_request("email_provider_disabled", "Email logins are disabled")
    return p, validate_email(p.get("email") or "")


async def user_by_email(conn, email: str) -> dict | None:
    return await find_user(conn, "lower(email) = %s and aud = %s and is_sso_user = false", email, AUDIENCE)


@gotrue
async def resend(request: web.Request) -> web.Response:
    """POST /resend: the sign-up mail again; {} whatever the address (registered or not)."""
    p = await params(request)
    kind = p.get("type")
    if kind not in ("signup", "email_change", "sms", "phone_change"):
        raise bad_request("validation_failed", "Missing one of these types: signup, email_change, sms, phone_change")
    if kind in ("sms", "phone_change"):
        raise bad_request("validation_failed", "Type provided requires a phone number")
    _, email = await email_param(request)
    async with request.app[AUTH_POOL].transaction() as conn:
        user = await user_by_email(conn, email)
        # email_change: the stand-in never has a pending change, and GoTrue then sends nothing.
        if user is not None and kind == "signup" and user["email_confirmed_at"] is None:
            await send_confirmation(request, conn, user)
    return web.json_response({})


@gotrue
async def recover(request: web.Request) -> web.Response:
    """POST /recover: a password recovery mail; {} whatever the address."""
    _, email = await email_param(request)
    async with request.app[AUTH_POOL].transaction() as conn:
        user = await user_by_email(conn, email)
        if user is not None:
            await send_recovery(request, conn, user)
    return web.json_response({})


@gotrue
async def verify(request: web.Request) -> web.Response:
    """GET /verify (the mail's link): confirms the address or opens the recovery, signs the user in
    and redirects to redirect_to with the session in the fragment (the implicit flow); an unknown or
    expired link redirects with the error there instead."""
    config: AuthConfig = request.app[AUTH_CONFIG]
    kind, token_hash = request.query.get("type", ""), request.query.get("token", "")
    redirect_to = request.query.get("redirect_to", "")
    if not redirect_valid(config, redirect_to):
        redirect_to = config.site_url
    if kind not in ("signup", "recovery"):
        raise bad_request("validation_failed", "Verify requires a verification type")
    column, sent = ("confirmation_token", "confirmation_sent_at") if kind == "signup" else (
        "recovery_token", "recovery_sent_at")  # fmt: skip
    async with request.app[AUTH_POOL].transaction() as conn:
        user = await find_user(conn, f"{column} = %s and {column} != ''", token_hash) if token_hash else None
        expired = (
            user is None
            or user[sent] is None
            or (dt.datetime.now(dt.UTC) > user[sent] + dt.timedelta(seconds=config.otp_expiry))
        )
        if expired:
            error = {"error": "access_denied", "error_code": "otp_expired",
                     "error_description": "Email link is invalid or has expired"}  # fmt: skip
            raise web.HTTPSeeOther(f"{redirect_to}#{urlencode(error)}")
        await conn.execute(f"update auth.users set {column} = '' where id = %s", (user["id"],))
        if user["email_confirmed_at"] is None:
            await confirm(conn, user["id"])
        body, _ = await issue_refresh_token(request, conn, user["id"], "otp")
    fragment = {key: body[key] for key in ("access_token", "expires_at", "expires_in", "refresh_token", "token_type")}
    raise web.HTTPSeeOther(f"{redirect_to}#{urlencode(fragment | {'type': kind})}")


def routes() -> list[web.RouteDef]:
    return [
        web.post("/auth/v1/resend", resend),
        web.post("/auth/v1/recover", recover),
        web.get("/auth/v1/verify", verify),
    ]
