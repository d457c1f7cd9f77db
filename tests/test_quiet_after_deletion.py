"""After a series is deleted, an idle worker removes its pictures once and then stays quiet: no line
of its log repeats more than once a minute, on either transport (issue 21: the supabase transport
once logged a failing forget_object_deletions twice a second, forever).

The worker runs on a thread of this process with its timers scaled by SCALE: a minute of its idle
life passes in 60 * SCALE seconds. At the defaults a minute is 30 poll cycles (poll_interval 2 s),
12 Realtime watchdog checks (5 s) and one cleanup retry (CLEANUP_RETRY_SECONDS, 60 s); here they
run every 1/30 s, 1/12 s and 1 s. The log is read as `imagen worker` writes it: INFO and up,
the per-request lines of HTTP libraries only from WARNING (imagen.cli.QUIET_LIBRARIES)."""

from __future__ import annotations

import collections
import logging
import re
import threading

import pytest

from imagen.cli import QUIET_LIBRARIES
from imagen.config import load_settings
from imagen.console.users import as_user
from imagen.loop import housekeeping
from imagen.loop.worker import Worker
from imagen.monitoring.observer import Observer
from imagen.rendering.thumbnail import thumbnail_path
from imagen.transports import open_progress, open_transport
from tests.test_supabase_transport import is_joined, supabase_settings
from tests.workers import wait_until
from tests.world import create_tiny_series

SCALE = 1 / 60  # a minute of the worker's life in a second
MINUTE = 60 * SCALE
MINUTES_WATCHED = 2  # after the deletion finished, this many scaled minutes of idling
DEFAULT_POLL_INTERVAL = 2.0
# What is not the worker's: the stand-ins (aiohttp's access log, imagen.dev.*) share this process.
NOT_THE_WORKER = ("aiohttp", "imagen.dev")


class LoopCycles(Observer):
    """Counts the worker loop's iterations (one per wake-up or poll)."""

    def __init__(self) -> None:
        self.cycles = 0

    def tick(self) -> None:
        self.cycles += 1


class WorkerLog(logging.Handler):
    """The worker's log lines (INFO and up), as `imagen worker` prints them, with their times."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(NOT_THE_WORKER):
            self.lines.append((record.created, f"{record.levelname} {record.name} {record.getMessage()}"))


def normalised(line: str) -> str:
    """The line with what changes from one occurrence to the next (ids, numbers, times) blanked."""
    line = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<id>", line)
    line = re.sub(r"\b[0-9a-f]{12,}\b", "<hex>", line)
    return re.sub(r"\d+(\.\d+)?", "<n>", line)


def repeated_within_a_minute(lines: list[tuple[float, str]]) -> list[str]:
    last_seen: dict[str, float] = {}
    repeats = collections.Counter()
    for created, line in lines:
        key = normalised(line)
        if key in last_seen and created - last_seen[key] < MINUTE:
            repeats[key] += 1
        last_seen[key] = created
    return [f"{count + 1}x {line}" for line, count in repeats.items()]


@pytest.fixture
def worker_log():
    handler = WorkerLog()
    root = logging.getLogger()
    quiet = {name: logging.getLogger(name).level for name in QUIET_LIBRARIES}
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)


def scaled(**settings: object) -> dict:
    poll = DEFAULT_POLL_INTERVAL * SCALE
    return {"poll_interval": poll, "realtime_watchdog_interval": 5.0 * SCALE, "retry_backoff_seconds": poll,
            "heartbeat_interval": 0.05, **settings}  # fmt: skip


@pytest.mark.parametrize("transport", ["postgres", "supabase"])
def test_after_a_series_is_deleted_no_worker_log_line_repeats_within_a_minute(transport, request, conn, user_a,
                                                                            renderer, tmp_path, worker_log,
                                                                            monkeypatch):  # fmt: skip
    monkeypatch.setattr(housekeeping, "CLEANUP_RETRY_SECONDS", housekeeping.CLEANUP_RETRY_SECONDS * SCALE)
    if transport == "supabase":
        standin = request.getfixturevalue("standin")
        settings = supabase_settings(standin, **scaled())
        stored = lambda path: standin.stored_object("imagen", path) is not None  # noqa: E731
    else:
        settings = load_settings(transport="postgres", database_url=conn.info.dsn, storage_dir=tmp_path,
                                 worker_id="quiet-worker", **scaled())  # fmt: skip
        stored = lambda path: (tmp_path / path).exists()  # noqa: E731
    queue, storage = open_transport(settings)
    progress = open_progress(queue, settings.progress_rate)
    loop = LoopCycles()
    worker = Worker(queue, storage, renderer, poll_interval=settings.poll_interval,
                    heartbeat_interval=settings.heartbeat_interval, progress=progress, observer=loop)  # fmt: skip
    thread = threading.Thread(target=worker.run, name="quiet-worker", daemon=True)
    thread.start()
    try:
        if transport == "supabase":
            wait_until(lambda: is_joined(queue), 10, what="the wake-up channel")
        series = create_tiny_series(conn, user_a, n=2, steps=1)
        wait_until(lambda: done(conn) == 2, 60, what="the series rendered")
        paths = [p for (path,) in conn.execute("select path from imagen.images") for p in (path, thumbnail_path(path))]
        assert all(map(stored, paths))

        logged_before = len(worker_log.lines)
        with as_user(conn, user_a):
            conn.execute("delete from imagen.series where id = %s", (series["id"],))
        wait_until(lambda: not any(map(stored, paths)) and not pending_deletions(conn), 30, 0.01, "the cleanup")
        cycles = loop.cycles
        poll_cycles_a_minute = 60 / DEFAULT_POLL_INTERVAL
        wait_until(lambda: loop.cycles >= cycles + MINUTES_WATCHED * poll_cycles_a_minute, 30, 0.01,
                   f"{MINUTES_WATCHED} scaled minutes of poll cycles")  # fmt: skip
    finally:
        worker.stop()
        thread.join(timeout=10)
        if progress is not None:
            progress.close()
        queue.close()
    after_deletion = worker_log.lines[logged_before:]
    assert any("removed 2 pictures" in line for _, line in after_deletion), after_deletion
    assert repeated_within_a_minute(after_deletion) == []
    if transport == "supabase":
        assert conn.execute("select count(*) from storage.objects").fetchone()[0] == 0


def done(conn) -> int:
    return conn.execute("select count(*) from imagen.jobs where status = 'done'").fetchone()[0]


def pending_deletions(conn) -> int:
    return conn.execute("select count(*) from imagen.objects_to_delete").fetchone()[0]
