"""Builds the queue and storage for the configured transport.

Every transport is the same WorkerRpcs over a connector that only executes: postgres (psycopg,
LISTEN/NOTIFY, pictures on local disk), supabase (PostgREST, Realtime, Storage), memory (tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from imagen.config import ConfigError, Settings
from imagen.jobs import ProgressPublisher, Storage
from imagen.transports.rpcs import WorkerRpcs


def queue_options(settings: Settings) -> dict:
    return {"lease_seconds": settings.lease_seconds, "retry_backoff_seconds": settings.retry_backoff_seconds}


def postgres_queue(database_url: str, worker_id: str, **options: float) -> WorkerRpcs:
    from imagen.transports.postgres import PostgresConnector

    return WorkerRpcs(PostgresConnector(database_url), worker_id, **options)


def supabase_project(settings: Settings):
    from imagen.transports.supabase.project import SupabaseProject

    if not settings.supabase_url or settings.supabase_service_role_key is None:
        raise ConfigError(
            "the supabase transport needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY (the project's service-role key)"
        )
    return SupabaseProject(settings.supabase_url, settings.supabase_service_role_key, settings.request_timeout)


def open_transport(settings: Settings) -> tuple[WorkerRpcs, Storage]:
    if settings.transport == "postgres":
        from imagen.transports.local_storage import LocalStorage

        queue = postgres_queue(settings.require_database_url(), settings.worker_id, **queue_options(settings))
        return queue, LocalStorage(settings.storage_dir)
    from imagen.transports.supabase.queue import SupabaseConnector
    from imagen.transports.supabase.storage import SupabaseStorage

    project = supabase_project(settings)
    connector = SupabaseConnector(project, watchdog_interval=settings.realtime_watchdog_interval)
    return WorkerRpcs(connector, settings.worker_id, **queue_options(settings)), SupabaseStorage(project)


@contextmanager
def open_storage(settings: Settings) -> Iterator[Storage]:
    """The configured transport's Storage alone (for reading pictures back)."""
    if settings.transport == "postgres":
        from imagen.transports.local_storage import LocalStorage

        yield LocalStorage(settings.storage_dir)
        return
    from imagen.transports.supabase.storage import SupabaseStorage

    project = supabase_project(settings)
    try:
        yield SupabaseStorage(project)
    finally:
        project.close()


def open_progress(queue: WorkerRpcs) -> ProgressPublisher | None:
    """Per-step progress over Broadcast where the transport has Realtime (supabase). The postgres
    transport has none: its watchers read the job rows, which the heartbeat keeps current."""
    from imagen.transports.progress import BroadcastProgress
    from imagen.transports.supabase.queue import SupabaseConnector

    if isinstance(queue.connector, SupabaseConnector):
        return BroadcastProgress(queue.connector.broadcast)
    return None
