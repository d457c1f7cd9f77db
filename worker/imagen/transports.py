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
    from imagen.supabase_project import SupabaseProject
    from imagen.supabase_queue import SupabaseQueue
    from imagen.supabase_storage import SupabaseStorage

    if not settings.supabase_url or settings.supabase_service_role_key is None:
        raise ConfigError(
            "the supabase transport needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY (the project's service-role key)"
        )
    project = SupabaseProject(settings.supabase_url, settings.supabase_service_role_key)
    queue = SupabaseQueue(
        project,
        settings.worker_id,
        lease_seconds=settings.lease_seconds,
        retry_backoff_seconds=settings.retry_backoff_seconds,
        watchdog_interval=settings.realtime_watchdog_interval,
    )
    return queue, SupabaseStorage(project)
