"""Settings from the environment (prefix IMAGEN_) or a .env file. Secrets are SecretStr."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IMAGEN_", env_file=".env", extra="ignore")

    # A direct Postgres connection; DATABASE_URL is accepted too. Unset: the demo embeds one.
    database_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("IMAGEN_DATABASE_URL", "DATABASE_URL")
    )
