"""Builds the queue and storage for the configured transport."""

from __future__ import annotations

from imagen.config import ConfigError, Settings
from imagen.jobs import JobQueue, Storage
from imagen.postgres_queue import PostgresQueue
from imagen.storage import LocalStorage


def open_transport(settings: Settings) -> tuple[JobQueue, Storage]:
    if settings.transport == "postgres":
        queue = PostgresQueue(
            settings.require_database_url(),
            settings.worker_id,
            lease_seconds=settings.lease_seconds,
            retry_backoff_seconds=settings.retry_backoff_seconds,
        )
        return queue, LocalStorage(settings.storage_dir)
    raise ConfigError(f"IMAGEN_TRANSPORT={settings.transport!r} is not available in this build")
