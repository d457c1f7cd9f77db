"""Auth's per-IP request limits, as a hosted project enforces them (supabase/auth api.go's
limitHandler with tollbooth limiters keyed by the client's address, performRateLimiting): a token
bucket per address and route group, `limit` requests a 5-minute window (refilled at limit/300 a
second, bursts up to `limit`), answered 429 over_request_rate_limit "Request rate limit reached".
Groups: sign-ups, recoveries, resends and password changes together ([auth.rate_limit]
sign_in_sign_ups), token requests (token_refresh), verifications (token_verifications). A local
Auth (the CLI's) sets no rate-limit header and limits nothing: AuthConfig's limits are 0 there and
set by AuthConfig.hosted()."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web

from imagen.dev.supabase_standin.auth import error_response
from imagen.dev.supabase_standin.auth_config import AUTH_CONFIG, AuthConfig
from imagen.dev.supabase_standin.auth_errors import AuthError

WINDOW_S = 300.0


def group_limit(config: AuthConfig, method: str, path: str) -> tuple[str, int] | None:
    """The limited group a request belongs to, and its limit a window; None when not limited."""
    route = path.removeprefix("/auth/v1")
    if (method, route) in {("POST", "/signup"), ("POST", "/recover"), ("POST", "/resend"), ("PUT", "/user")}:
        return "emails", config.rate_limit_otp
    if (method, route) == ("POST", "/token"):
        return "token", config.rate_limit_token
    if route == "/verify":
        return "verify", config.rate_limit_verify
    return None


class RequestLimits:
    """The buckets: (group, address) -> (tokens left, when last filled)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}

    def allow(self, group: str, address: str, limit: int) -> bool:
        now = self.clock()
        tokens, filled = self._buckets.get((group, address), (float(limit), now))
        tokens = min(float(limit), tokens + (now - filled) * limit / WINDOW_S)
        allowed = tokens >= 1
        self._buckets[(group, address)] = (tokens - 1 if allowed else tokens, now)
        return allowed


REQUEST_LIMITS = web.AppKey("auth_request_limits", RequestLimits)


@web.middleware
async def limit_auth_requests(request: web.Request, handler):
    config: AuthConfig = request.app[AUTH_CONFIG]
    found = group_limit(config, request.method, request.path) if request.path.startswith("/auth/v1/") else None
    if found is None or found[1] <= 0:
        return await handler(request)
    group, limit = found
    # The first X-Forwarded-For address (the hosted gateway's), else the peer.
    address = request.headers.get("X-Forwarded-For", "").split(",")[0].strip() or request.remote or ""
    if request.app[REQUEST_LIMITS].allow(group, address, limit):
        return await handler(request)
    return error_response(request, AuthError(429, "over_request_rate_limit", "Request rate limit reached"))
