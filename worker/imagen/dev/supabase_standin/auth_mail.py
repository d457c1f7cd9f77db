"""Auth's mailer, as GoTrue sends mail with confirmations on (supabase/auth internal/api/mail.go:
sendConfirmation, sendPasswordRecovery, sendEmail, validateSentWithinFrequencyLimit; mailer/
template.go's default templates; utilities.GetReferrer and IsRedirectURLValid): a one-time token
per mail (sha224 of email + OTP, crypto.GenerateTokenHash), the per-user frequency limit
([auth.email] max_frequency), the project-wide hourly limit ([auth.rate_limit] email_sent, only
with confirmations on, as upstream), and the link to /verify, sent over real SMTP."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import html
import secrets
import smtplib
import time
from collections import deque
from email.message import EmailMessage
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from imagen.dev.supabase_standin.app_keys import AUTH_POOL
from imagen.dev.supabase_standin.auth import (
    AUDIENCE,
    AUTH_CONFIG,
    AuthConfig,
    AuthError,
    bad_request,
    confirm,
    find_user,
    gotrue,
    issue_refresh_token,
    params,
    validate_email,
)

SENDER = "admin@email.com"  # the CLI's local [auth.email.smtp] admin_email
TEMPLATES = {  # mailer/template.go's defaults
    "signup": ("Confirm Your Email", "<h2>Confirm your email</h2><p>Follow this link to confirm your email:</p>"
               '<p><a href="{url}">Confirm your email address</a></p>'),
    "recovery": ("Reset Your Password", "<h2>Reset Password</h2><p>Follow this link to reset the password for"
                 ' your user:</p><p><a href="{url}">Reset Password</a></p>'),
}  # fmt: skip


def too_many(message: str) -> AuthError:
    return AuthError(429, "over_email_send_rate_limit", message)


class Mailer:
    """One per stand-in: where mail goes (SMTP host and port) and the hourly count of sends."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._sent: deque[float] = deque()

    def _allow(self, per_hour: int) -> bool:
        now = time.monotonic()
        while self._sent and now - self._sent[0] > 3600:
            self._sent.popleft()
        if len(self._sent) >= per_hour:
            return False
        self._sent.append(now)
        return True

    def _send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = SENDER, to, subject
        message.set_content(body, subtype="html")
        with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
            smtp.send_message(message)

    async def send(self, request: web.Request, user: dict, kind: str, sent_at: dt.datetime | None) -> str:
        """Sends `kind` ("signup" or "recovery") to the user; returns the token hash to store.
        429 when the user's last mail of this kind is within max_frequency or the hour's count is
        spent; 500 when the SMTP server refuses it (the caller's transaction then rolls back)."""
        config: AuthConfig = request.app[AUTH_CONFIG]
        if sent_at is not None:
            left = sent_at + dt.timedelta(seconds=config.max_frequency) - dt.datetime.now(dt.UTC)
            if left > dt.timedelta(0):
                seconds = int(left.total_seconds())
                raise too_many(f"For security purposes, you can only request this after {seconds} seconds.")
        if config.email_sent == 0 or (config.enable_confirmations and not self._allow(config.email_sent)):
            raise too_many("Email rate limit exceeded")
        otp = "".join(secrets.choice("0123456789") for _ in range(config.otp_length))
        token_hash = hashlib.sha224((user["email"] + otp).encode()).hexdigest()
        query = {"token": token_hash, "type": kind, "redirect_to": referrer(request, config)}
        link = f"{external_url(request)}/verify?{urlencode(query)}"
        subject, template = TEMPLATES[kind]
        try:
            await asyncio.to_thread(self._send, user["email"], subject, template.format(url=html.escape(link)))
        except (OSError, smtplib.SMTPException) as exc:
            what = "confirmation" if kind == "signup" else "recovery"
            raise AuthError(500, "unexpected_failure", f"Error sending {what} email") from exc
        return token_hash


MAILER = web.AppKey("mailer", Mailer)


def external_url(request: web.Request) -> str:
    """API_EXTERNAL_URL: where the link's /verify is served (the gateway's /auth/v1)."""
    return f"{request.scheme}://{request.host}/auth/v1"


def redirect_valid(config: AuthConfig, url: str) -> bool:
    """IsRedirectURLValid: the site URL's host, or an exact additional redirect URL."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    return bool(host) and (host == urlsplit(config.site_url).hostname or url in config.additional_redirect_urls)


def referrer(request: web.Request, config: AuthConfig) -> str:
    """GetReferrer: redirect_to (query), else the Referer header, when allowed; else the site URL."""
    for candidate in (request.query.get("redirect_to", ""), request.headers.get("Referer", "")):
        if candidate and redirect_valid(config, candidate):
            return candidate
    return config.site_url


# -- the flows that send mail or follow its link (mail.go, resend.go, recover.go, verify.go) ----


async def send_confirmation(request: web.Request, conn, user: dict) -> None:
    token_hash = await request.app[MAILER].send(request, user, "signup", user["confirmation_sent_at"])
    await conn.execute(
        "update auth.users set confirmation_token = %s, confirmation_sent_at = now() where id = %s",
        (token_hash, user["id"]),
    )


async def send_recovery(request: web.Request, conn, user: dict) -> None:
    token_hash = await request.app[MAILER].send(request, user, "recovery", user["recovery_sent_at"])
    await conn.execute(
        "update auth.users set recovery_token = %s, recovery_sent_at = now() where id = %s",
        (token_hash, user["id"]),
    )


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
