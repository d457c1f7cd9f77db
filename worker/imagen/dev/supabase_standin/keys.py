"""The project's API keys (stand-in): JWTs minted with the project's secret, with the claims Supabase
puts in its legacy keys, and the opaque `sb_publishable_...` / `sb_secret_...` keys a hosted project's
dashboard now shows first. An opaque key is no JWT: the API gateway swaps it for a JWT of its role
before the request reaches PostgREST, Storage or Realtime (gateway_token)."""

from __future__ import annotations

import secrets
import time
import uuid

import jwt

DEFAULT_SECRET = "super-secret-jwt-token-with-at-least-32-characters-long"
# The project's API keys last years, as the keys `supabase start` hands out do: a local stack left
# running over lunch keeps answering. Users' access tokens keep their hour.
API_KEY_TTL = 10 * 365 * 24 * 3600


class InvalidToken(Exception):
    pass


class ProjectKeys:
    def __init__(self, secret: str = DEFAULT_SECRET) -> None:
        self.secret = secret
        # Random per project, as the dashboard makes them (no secret can be derived from them).
        self.secret_key = f"sb_secret_{secrets.token_urlsafe(24)}"
        self.publishable_key = f"sb_publishable_{secrets.token_urlsafe(24)}"

    def gateway_token(self, apikey: str) -> str | None:
        """What the gateway forwards for an `apikey`: the role's JWT for the project's secret or
        publishable key (the CLI's Kong config, LUA_AUTH_EXPR: secret -> service_role, publishable
        -> anon), None for any other opaque `sb_` key (answered 401 "Invalid API key"), and a
        JWT-shaped key as it is (PostgREST verifies it)."""
        if apikey == self.secret_key:
            return self.service_role
        if apikey == self.publishable_key:
            return self.anon
        return None if apikey.startswith("sb_") else apikey

    def mint(self, claims: dict, ttl: int = 3600) -> str:
        now = int(time.time())
        return self.sign({"iss": "supabase-standin", "iat": now, "exp": now + ttl, **claims})

    def sign(self, claims: dict) -> str:
        """Exactly these claims, HS256 with the project secret (as Auth signs its access tokens)."""
        return jwt.encode(claims, self.secret, "HS256")

    @property
    def anon(self) -> str:
        return self.mint({"role": "anon"}, ttl=API_KEY_TTL)

    @property
    def service_role(self) -> str:
        return self.mint({"role": "service_role"}, ttl=API_KEY_TTL)

    def user(self, user_id: uuid.UUID | str, email: str | None = None, anonymous: bool = False) -> str:
        """A user's access token; anonymous: one of Auth's anonymous sign-ins (its is_anonymous claim)."""
        return self.mint({"sub": str(user_id), "role": "authenticated", "aud": "authenticated", "email": email,
                          "is_anonymous": anonymous})  # fmt: skip

    def verify(self, token: str) -> dict:
        try:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"], options={"verify_aud": False})
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        if "role" not in claims:
            raise InvalidToken("JWT has no role claim")
        return claims


INVALID_API_KEY = ("Invalid API key", "Double check your Supabase `anon` or `service_role` API key.")
NO_API_KEY = ("No API key found in request", "No `apikey` request header or url param was found.")


class GatewayRefusal(Exception):
    """The gateway's own 401 (message, hint), before any server behind it sees the request."""


def forwarded_token(keys: ProjectKeys, authorization: str, apikey: str | None) -> str | None:
    """The JWT the gateway hands the server behind it (the CLI's Kong config, LUA_AUTH_EXPR): the
    Authorization bearer unless it carries an `sb_` key, else the apikey's own (an opaque key
    swapped for its role's JWT). An unknown opaque key is refused as key-auth refuses it, and so is
    an opaque key sent only as a bearer (a live project answers "No API key found in request")."""
    translated = keys.gateway_token(apikey) if apikey else None
    if apikey and translated is None:
        raise GatewayRefusal(*INVALID_API_KEY)
    if authorization.startswith("Bearer ") and not authorization.startswith("Bearer sb_"):
        return authorization.removeprefix("Bearer ").strip()
    if authorization.startswith("Bearer sb_") and not apikey:
        raise GatewayRefusal(*NO_API_KEY)
    return translated
