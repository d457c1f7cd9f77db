"""Builds the queue and storage for the configured transport.

Every transport is the same WorkerRpcs over a connector that only executes: postgres (psycopg,
LISTEN/NOTIFY, pictures on local disk), supabase (PostgREST, Realtime, Storage), memory (tests).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import SecretStr

from imagen.config import ConfigError, Settings, models_claimed
from imagen.jobs import ProgressPublisher, Storage
from imagen.transports.rpcs import WorkerRpcs


def queue_options(settings: Settings) -> dict:
    return {
        "lease_seconds": settings.lease_seconds,
        "retry_backoff_seconds": settings.retry_backoff_seconds,
        "models": models_claimed(settings),
    }


def postgres_queue(database_url: str, worker_id: str, listen_url: str | None = None, **options: object) -> WorkerRpcs:
    from imagen.transports.postgres import PostgresConnector

    return WorkerRpcs(PostgresConnector(database_url, listen_url), worker_id, **options)


def supabase_credentials(settings: Settings) -> tuple[str, SecretStr]:
    if not settings.supabase_url or settings.supabase_service_role_key is None:
        raise ConfigError(
            "the supabase transport needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY (the project's secret key,"
            " sb_secret_..., or its legacy service_role key)"
        )
    from imagen.transports.supabase.keys import check_worker_key

    check_worker_key(settings.supabase_service_role_key.get_secret_value())
    return settings.supabase_url, settings.supabase_service_role_key


def supabase_project(settings: Settings):
    from imagen.transports.supabase.project import SupabaseProject

    return SupabaseProject(*supabase_credentials(settings), settings.request_timeout)


def open_transport(settings: Settings, checked: bool = False) -> tuple[WorkerRpcs, Storage]:
    """The queue and storage of the configured transport. checked: the RPCs are tried once before
    any wake-up connection opens, so credentials or a schema that cannot work stop the caller with
    one ConfigError (not with a Realtime client's refused connection logged first)."""
    if settings.transport == "postgres":
        from imagen.transports.local_storage import LocalStorage
        from imagen.transports.postgres import PostgresConnector

        connector = PostgresConnector(settings.require_database_url(), settings.listen_url())
        storage = LocalStorage(settings.storage_dir)
    else:
        from imagen.transports.supabase.queue import SupabaseConnector
        from imagen.transports.supabase.storage import SupabaseStorage

        project = supabase_project(settings)
        connector = SupabaseConnector(project, watchdog_interval=settings.realtime_watchdog_interval)
        storage = SupabaseStorage(project)
    queue = WorkerRpcs(connector, settings.worker_id, **queue_options(settings), start=not checked)
    if checked:
        try:
            queue.check()
            queue.start()  # a listen URL that cannot LISTEN (a transaction pooler) is refused here
        except BaseException:
            queue.close()
            raise
    return queue, storage


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


def open_progress(queue: WorkerRpcs, rate: float | None = None) -> ProgressPublisher | None:
    """Per-step progress where the transport can send it without writing rows: Realtime Broadcast
    (supabase) or NOTIFY (postgres, whose 8000 bytes hold no preview), at most `rate` messages a
    second (None: the default, IMAGEN_PROGRESS_RATE's)."""
    from imagen.jobs import DEFAULT_PROGRESS_RATE
    from imagen.transports.progress import BroadcastProgress

    send = getattr(queue.connector, "broadcast", None)
    if send is None:
        return None
    previews = queue.connector.broadcast_holds_previews
    return BroadcastProgress(send, previews=previews, rate=rate or DEFAULT_PROGRESS_RATE)
