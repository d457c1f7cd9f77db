"""The Auth stand-in's settings: supabase/config.toml's [auth], as the CLI configures a local Auth
server (see auth.py for what each one does there)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

CONFIG_TOML = Path(__file__).resolve().parents[4] / "supabase" / "config.toml"


@dataclass(frozen=True)
class AuthConfig:
    jwt_expiry: int = 3600
    enable_signup: bool = True
    email_signup: bool = True
    minimum_password_length: int = 6
    refresh_token_rotation: bool = True
    refresh_token_reuse_interval: int = 10
    # With confirmations on (a hosted project's default) sign-ups get a mail with a link to /verify.
    enable_confirmations: bool = False
    max_frequency: float = 60  # seconds between two mails of a kind to one user
    email_sent: int = 30  # mails an hour, project-wide
    otp_length: int = 6
    otp_expiry: int = 3600
    site_url: str = "http://127.0.0.1:3000"
    additional_redirect_urls: tuple[str, ...] = ()
    # A hosted project's built-in mailer (no custom SMTP): it mails only the project team's
    # addresses (400 email_address_not_authorized otherwise, no user made) and refuses addresses
    # it judges invalid (400 email_address_invalid). Off: custom SMTP, or a local Auth.
    hosted_mailer: bool = False
    team_addresses: tuple[str, ...] = ()
    # Per-IP requests a 5-minute window (auth_limits.py); 0: not limited, as a local Auth.
    rate_limit_otp: int = 0  # sign-ups, recoveries, resends and password changes together
    rate_limit_token: int = 0
    rate_limit_verify: int = 0

    @classmethod
    def hosted(cls, team_addresses: tuple[str, ...] = (), **changes) -> AuthConfig:
        """A hosted project's Auth as it comes: "Confirm email" on, the built-in mailer (team only,
        2 mails an hour), a resend interval of 60 s, and the per-IP limits (30 / 150 / 30)."""
        hosted = dict(
            enable_confirmations=True,
            max_frequency=60,
            email_sent=2,
            hosted_mailer=True,
            team_addresses=team_addresses,
            rate_limit_otp=30,
            rate_limit_token=150,
            rate_limit_verify=30,
        )
        return cls(**{**hosted, **changes})  # fmt: skip

    @classmethod
    def from_config_toml(cls, path: Path = CONFIG_TOML) -> AuthConfig:
        auth = tomllib.loads(path.read_text()).get("auth", {})
        email, sms = auth.get("email", {}), auth.get("sms", {})
        refused = {
            "[auth] password_requirements": auth.get("password_requirements", ""),
            "[auth] enable_anonymous_sign_ins": auth.get("enable_anonymous_sign_ins", False),
            "[auth.sms] enable_signup": sms.get("enable_signup", False),
        }
        if on := [name for name, value in refused.items() if value]:
            raise ValueError(f"the Auth stand-in does not reproduce {', '.join(on)}")
        return cls(
            jwt_expiry=auth.get("jwt_expiry", 3600),
            enable_signup=auth.get("enable_signup", True),
            email_signup=email.get("enable_signup", True),
            minimum_password_length=auth.get("minimum_password_length", 6),
            refresh_token_rotation=auth.get("enable_refresh_token_rotation", True),
            refresh_token_reuse_interval=auth.get("refresh_token_reuse_interval", 10),
            enable_confirmations=email.get("enable_confirmations", False),
            max_frequency=go_duration(email.get("max_frequency", "1m0s")),
            email_sent=auth.get("rate_limit", {}).get("email_sent", 30),
            otp_length=email.get("otp_length", 6),
            otp_expiry=email.get("otp_expiry", 3600),
            site_url=auth.get("site_url", "http://127.0.0.1:3000"),
            additional_redirect_urls=tuple(auth.get("additional_redirect_urls", ())),
        )


def go_duration(text: str) -> float:
    """time.ParseDuration for the h/m/s/ms forms config.toml uses ("1s", "1m0s")."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(n) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[u] for n, u in parts)


AUTH_CONFIG = web.AppKey("auth_config", AuthConfig)
