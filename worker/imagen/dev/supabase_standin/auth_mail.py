"""Auth's mailer, as GoTrue sends mail with confirmations on (supabase/auth internal/api/mail.go:
sendConfirmation, sendPasswordRecovery, sendEmail, validateSentWithinFrequencyLimit; mailer/
template.go's default templates; utilities.GetReferrer and IsRedirectURLValid): a one-time token
per mail (sha224 of email + OTP, crypto.GenerateTokenHash), the per-user frequency limit
([auth.email] max_frequency), the project-wide hourly limit ([auth.rate_limit] email_sent, only
with confirmations on, as upstream), and the link to /verify, sent over real SMTP. In
AuthConfig.hosted_mailer mode, as a hosted project's built-in mailer: only the team's addresses
(400 email_address_not_authorized, checkEmailAddressAuthorization) and no example or test
domains (400 email_address_invalid; the hosted validator also checks DNS, which no test here
can reach)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import html
import re
import secrets
import smtplib
import time
from collections import deque
from email.message import EmailMessage
from urllib.parse import urlencode

from aiohttp import web

from imagen.dev.supabase_standin.auth_config import AUTH_CONFIG, AuthConfig
from imagen.dev.supabase_standin.auth_errors import AuthError
from imagen.dev.supabase_standin.auth_redirects import redirect_valid

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
        if config.hosted_mailer and not team_address(config, user["email"]):  # checkEmailAddressAuthorization
            raise AuthError(400, "email_address_not_authorized",
                            f'Email address "{user["email"]}" cannot be used as it is not authorized')  # fmt: skip
        if config.email_sent == 0 or (config.enable_confirmations and not self._allow(config.email_sent)):
            raise too_many("Email rate limit exceeded")
        if config.hosted_mailer and reserved_domain(user["email"]):  # the mailer's validateclient
            raise AuthError(400, "email_address_invalid", f'Email address "{user["email"]}" is invalid')
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
LABEL = re.compile(r"\+[^@]*@")  # emailLabelPattern: "me+imagen@x" is "me@x"
RESERVED = ("example.com", "example.net", "example.org", "example", "test", "invalid", "localhost")


def team_address(config: AuthConfig, email: str) -> bool:
    """checkEmailAddressAuthorization: the address, without its +label, is one of the team's."""
    normalized = LABEL.sub("@", email).lower()
    return any(normalized == address.lower() for address in config.team_addresses)


def reserved_domain(email: str) -> bool:
    """What the hosted mailer refuses offline too: example and test domains (RFC 2606)."""
    domain = email.rsplit("@", 1)[-1].lower()
    return any(domain == name or domain.endswith(f".{name}") for name in RESERVED)


def external_url(request: web.Request) -> str:
    """API_EXTERNAL_URL: where the link's /verify is served (the gateway's /auth/v1)."""
    return f"{request.scheme}://{request.host}/auth/v1"


def referrer(request: web.Request, config: AuthConfig) -> str:
    """GetReferrer: redirect_to (query), else the Referer header, when allowed; else the site URL."""
    for candidate in (request.query.get("redirect_to", ""), request.headers.get("Referer", "")):
        if candidate and redirect_valid(config, candidate):
            return candidate
    return config.site_url


# -- the two mails, their tokens kept on the user (sendConfirmation, sendPasswordRecovery) -----


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
