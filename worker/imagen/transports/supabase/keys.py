"""The project's API keys as the worker sends them. Two kinds exist: the new opaque keys
(`sb_secret_...`, `sb_publishable_...`, shown first in the dashboard) and the legacy JWTs
(`service_role`, `anon`; deprecated, to be retired by the end of 2026). Supabase documents that
the opaque keys go on the `apikey` header only: they are no JWT, and a gateway that finds one in
`Authorization: Bearer` tolerates it only when it equals `apikey` (docs: "Understanding API keys",
known limitations). The worker needs the elevated kind; the low one is refused here, before a
request is made."""

from __future__ import annotations

import base64
import json

from imagen.errors import ConfigError

SECRET_PREFIX = "sb_secret_"
PUBLISHABLE_PREFIX = "sb_publishable_"


def is_jwt(key: str) -> bool:
    """A legacy key: three base64url parts (a JWT), not an opaque `sb_` key."""
    return not key.startswith("sb_") and key.count(".") == 2


def jwt_role(key: str) -> str | None:
    """The `role` claim of a JWT-shaped key, read without verifying it (the server verifies)."""
    try:
        payload = key.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("role")
    except (ValueError, IndexError, AttributeError):
        return None


def key_headers(key: str) -> dict[str, str]:
    """`apikey` always; `Authorization: Bearer` only for a legacy JWT key."""
    return {"apikey": key, **({"Authorization": f"Bearer {key}"} if is_jwt(key) else {})}


def check_worker_key(key: str) -> None:
    """ConfigError for a key that cannot be the worker's: the publishable or anon one."""
    low = key.startswith(PUBLISHABLE_PREFIX) or (is_jwt(key) and jwt_role(key) == "anon")
    if low:
        raise ConfigError(
            "SUPABASE_SERVICE_ROLE_KEY holds the project's publishable (anon) key, which may not call the worker's"
            " functions: use a secret key (sb_secret_..., Dashboard > Project Settings > API Keys) or the legacy"
            " service_role key"
        )
