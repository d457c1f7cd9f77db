"""JWTs minted with the project's secret, with the claims Supabase puts in its keys (stand-in)."""

from __future__ import annotations

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

    def user(self, user_id: uuid.UUID | str, email: str | None = None) -> str:
        return self.mint({"sub": str(user_id), "role": "authenticated", "aud": "authenticated", "email": email})

    def verify(self, token: str) -> dict:
        try:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"], options={"verify_aud": False})
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        if "role" not in claims:
            raise InvalidToken("JWT has no role claim")
        return claims
