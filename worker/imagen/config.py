"""Settings from the environment (prefix IMAGEN_) or a .env file. Secrets are SecretStr, so
they print as '**********' in logs and reprs."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "black-forest-labs/FLUX.1-schnell"


class ConfigError(Exception):
    """A setting is missing or wrong; the message says what to set."""


class ModelLoadError(ConfigError):
    """IMAGEN_MODEL names no pipeline that loads."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IMAGEN_", env_file=".env", extra="ignore")

    transport: Literal["postgres", "supabase"] = "postgres"
    # postgres transport: a direct connection (DATABASE_URL accepted too).
    database_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("IMAGEN_DATABASE_URL", "DATABASE_URL")
    )
    # supabase transport: the project URL and the service-role key, nothing else.
    supabase_url: str | None = Field(default=None, validation_alias=AliasChoices("IMAGEN_SUPABASE_URL", "SUPABASE_URL"))
    supabase_service_role_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("IMAGEN_SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_SERVICE_ROLE_KEY"),
    )

    model: str = DEFAULT_MODEL
    device: str | None = None
    dtype: Literal["bfloat16", "float16", "float32"] | None = None
    compile: bool = False

    storage_dir: Path = Path("imagen-images")
    worker_id: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    poll_interval: float = Field(default=2.0, gt=0)
    lease_seconds: float = Field(default=60.0, gt=0)
    heartbeat_interval: float = Field(default=1.0, gt=0)
    retry_backoff_seconds: float = Field(default=2.0, ge=0)
    # supabase transport: a small preview of each step's latents goes with its Broadcast progress
    # (NOTIFY, the postgres transport's, has no room for one).
    previews: bool = True
    # supabase transport: a request with no answer after this long is given up and retried.
    request_timeout: float = Field(default=30.0, gt=0)
    # supabase transport: how often the Realtime connection is checked (and rebuilt if dead).
    realtime_watchdog_interval: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _heartbeat_fits_the_lease(self) -> Settings:
        # A heartbeat renews the lease only once less than half of it is left (migration
        # 20261128110000): beats further apart than that would let it run out.
        if self.heartbeat_interval >= self.lease_seconds / 2:
            raise ValueError(
                f"IMAGEN_HEARTBEAT_INTERVAL ({self.heartbeat_interval:g} s) must be under half of "
                f"IMAGEN_LEASE_SECONDS ({self.lease_seconds:g} s)"
            )
        return self

    def require_database_url(self) -> str:
        if self.database_url is None:
            raise ConfigError("no database: set IMAGEN_DATABASE_URL (or DATABASE_URL) to a postgres:// URL")
        return self.database_url.get_secret_value()


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with command-line overrides; errors as one ConfigError line."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            if not err["loc"]:  # a rule between settings names them itself
                problems.append(str(err["ctx"]["error"]) if "error" in err.get("ctx", {}) else err["msg"])
                continue
            name = "IMAGEN_" + "_".join(str(p) for p in err["loc"]).upper()
            problems.append(f"{name}: {err['msg']}")
        raise ConfigError("; ".join(problems)) from None
