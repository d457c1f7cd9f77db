"""The postgres transport through a transaction pooler (Debian's PgBouncer, as Supavisor on port
6543): calls carry no session state, LISTEN through the pooler is refused with a clear error, and
a process listens once however many workers it runs."""

from __future__ import annotations

import threading

import psycopg
import pytest
from bench.common import NullRenderer

from imagen.config import ConfigError, Settings
from imagen.dev.pgbouncer import PgBouncer
from imagen.loop.worker import Worker
from imagen.transports import open_transport, postgres_queue
from imagen.transports.listener import APPLICATION_NAME, ListenThroughPooler
from imagen.transports.local_storage import LocalStorage
from imagen.transports.postgres import PostgresConnector
from tests.workers import scalar, wait_until
from tests.world import create_series


@pytest.fixture
def bouncer(db_url):
    """One server connection for every client: any state a call left in its session would show."""
    with PgBouncer(db_url, pool_size=1) as bouncer:
        yield bouncer


def listening_sessions(db_url: str) -> int:
    return scalar(db_url, "select count(*) from pg_stat_activity where application_name = %s"
                          " and datname = current_database()", (APPLICATION_NAME,))  # fmt: skip


def test_workers_drain_a_series_through_the_pooler_and_leave_no_session_state(db_url, conn, user_a, bouncer, tmp_path):
    series = create_series(conn, user_a, n=6)
    pooled = bouncer.url(psycopg.conninfo.conninfo_to_dict(db_url)["dbname"])
    queues = [postgres_queue(pooled, f"pooled-{i}", listen_url=db_url, lease_seconds=30) for i in range(2)]
    try:
        workers = [Worker(q, LocalStorage(tmp_path), NullRenderer(), poll_interval=0.1) for q in queues]
        threads = [threading.Thread(target=w.run, kwargs={"burst": True}) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        for q in queues:
            q.close()
    assert sum(w.stats.done for w in workers) == 6
    assert scalar(db_url, "select count(*) from imagen.images where series_id = %s", (series["id"],)) == 6
    # The pool's one server connection served every call: none left its role (or anything else) behind.
    with psycopg.connect(pooled, autocommit=True, prepare_threshold=None) as client:
        assert client.execute("select current_user").fetchone()[0] == "postgres"


def test_listen_through_a_transaction_pooler_is_refused_naming_the_setting(db_url, bouncer):
    pooled = bouncer.url(psycopg.conninfo.conninfo_to_dict(db_url)["dbname"])
    connector = PostgresConnector(pooled)
    try:
        with pytest.raises(ListenThroughPooler, match="IMAGEN_LISTEN_DATABASE_URL") as refused:
            connector.start(lambda: None)
        assert isinstance(refused.value, ConfigError)  # the worker stops with one line, exit code 2
    finally:
        connector.close()
    assert not any(t.name == "imagen-listen" for t in threading.enumerate())  # nothing left listening
    assert listening_sessions(db_url) == 0


def test_the_worker_s_transport_refuses_it_at_start_too(db_url, bouncer, monkeypatch, tmp_path):
    pooled = bouncer.url(psycopg.conninfo.conninfo_to_dict(db_url)["dbname"])
    monkeypatch.setenv("IMAGEN_DATABASE_URL", pooled)
    monkeypatch.setenv("IMAGEN_STORAGE_DIR", str(tmp_path))
    with pytest.raises(ListenThroughPooler):
        open_transport(Settings(), checked=True)
    monkeypatch.setenv("IMAGEN_LISTEN_DATABASE_URL", db_url)  # the direct connection for LISTEN
    queue, _ = open_transport(Settings(), checked=True)
    try:
        wait_until(lambda: listening_sessions(db_url) == 1, what="the listening session")
    finally:
        queue.close()


def test_a_session_pooler_may_carry_the_listen(db_url):
    with PgBouncer(db_url, pool_size=2, mode="session") as bouncer:
        pooled = bouncer.url(psycopg.conninfo.conninfo_to_dict(db_url)["dbname"])
        woken = threading.Event()
        connector = PostgresConnector(pooled)
        try:
            connector.start(woken.set)
            wait_until(woken.is_set, what="the first wake-up")  # on connect: anything queued meanwhile
            woken.clear()
            connector.idle(True)  # waiting for work, as WorkerRpcs.wait_for_work says
            scalar(db_url, "select pg_notify('imagen_jobs', '')")
            wait_until(woken.is_set, what="the NOTIFY's wake-up")
        finally:
            connector.close()


def test_one_listening_session_a_process_wakes_its_workers(db_url):
    wakes = [threading.Event() for _ in range(5)]
    connectors = [PostgresConnector(db_url) for _ in wakes]
    try:
        for connector, woken in zip(connectors, wakes, strict=True):
            connector.start(woken.set)
        assert len({id(c.listener) for c in connectors}) == 1
        wait_until(lambda: all(w.is_set() for w in wakes), what="the wake-up on connect")
        assert listening_sessions(db_url) == 1
        for connector, woken in zip(connectors, wakes, strict=True):
            woken.clear()
            connector.idle(True)
        scalar(db_url, "select pg_notify('imagen_jobs', '')")
        wait_until(lambda: any(w.is_set() for w in wakes), what="a worker woken by the NOTIFY")
        for connector in connectors[:-1]:
            connector.close()
        assert listening_sessions(db_url) == 1  # the last worker still listens
    finally:
        for connector in connectors:
            connector.close()
    wait_until(lambda: listening_sessions(db_url) == 0, what="the session closed with its last worker")


def test_a_worker_that_joins_a_session_already_listening_is_woken_at_once(db_url):
    """The session's wake-up on connect went out before the second worker came: it claims anyway."""
    wakes = [threading.Event() for _ in range(2)]
    connectors = [PostgresConnector(db_url) for _ in wakes]
    try:
        connectors[0].start(wakes[0].set)
        wait_until(wakes[0].is_set, what="the first worker's wake-up on connect")
        connectors[1].start(wakes[1].set)
        assert wakes[1].is_set()
        assert listening_sessions(db_url) == 1
    finally:
        for connector in connectors:
            connector.close()


def test_a_notify_wakes_one_idle_worker_and_each_claim_that_found_a_try_wakes_the_next(db_url):
    wakes = [threading.Event() for _ in range(4)]
    connectors = [PostgresConnector(db_url) for _ in wakes]
    try:
        for connector, woken in zip(connectors, wakes, strict=True):
            connector.start(woken.set)
        wait_until(lambda: all(w.is_set() for w in wakes), what="the wake-up on connect")
        for connector, woken in zip(connectors, wakes, strict=True):
            woken.clear()
            connector.idle(True)
        listener = connectors[0].listener
        before = listener.notifications
        scalar(db_url, "select pg_notify('imagen_jobs', '')")
        wait_until(lambda: listener.notifications > before, what="the NOTIFY")
        assert [w.is_set() for w in wakes] == [True, False, False, False]  # the longest idle, alone
        connectors[0].claimed_one()  # its claim found a try: there may be more
        assert [w.is_set() for w in wakes] == [True, True, False, False]
        for connector in connectors:  # all busy: nobody is woken (each claims when its render ends) ...
            connector.idle(False)
        for woken in wakes:
            woken.clear()
        before = listener.notifications
        scalar(db_url, "select pg_notify('imagen_jobs', '')")
        wait_until(lambda: listener.notifications > before, what="the NOTIFY")
        assert not any(w.is_set() for w in wakes)
        connectors[2].idle(True)  # ... but the first to wait afterwards claims at once
        assert [w.is_set() for w in wakes] == [False, False, True, False]
        connectors[3].idle(True)  # the wake-up was taken: the next one waits
        assert not wakes[3].is_set()
    finally:
        for connector in connectors:
            connector.close()
