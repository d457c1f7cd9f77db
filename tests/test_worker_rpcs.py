"""The worker's RPCs: claims under concurrency, leases, idempotent completion, retries, cancel."""

from __future__ import annotations

import time

import psycopg
import pytest

from imagen.console.users import as_user
from tests.world import as_worker, claim, complete, create_series, job_row, race_two_claimers


def queue_solo_jobs(conn, owner, count: int) -> None:
    # As the service role: more than a user's cap on unfinished tries, which binds postgres too
    # (no superuser, as on a hosted project).
    with as_worker(conn):
        conn.execute(
            "insert into imagen.jobs (owner_id, settings)"
            " select %s, jsonb_build_object('prompt', 'p' || i, 'model', 'm', 'seed', i) from generate_series(1, %s) i",
            (owner, count),
        )


def call(conn, sql: str, params=()):
    with as_worker(conn):
        return conn.execute(sql, params).fetchone()


def test_two_connections_racing_claim_each_job_exactly_once(db_url, conn, user_a):
    queue_solo_jobs(conn, user_a, 200)
    claimed = race_two_claimers(db_url)
    all_ids = claimed["w1"] + claimed["w2"]
    assert len(all_ids) == 200
    assert len(set(all_ids)) == 200
    assert claimed["w1"] and claimed["w2"], "both connections should have claimed some jobs"


def test_claim_takes_series_tries_in_order(conn, user_a):
    series = create_series(conn, user_a, 3)
    assert [claim(conn)["series_idx"] for _ in range(3)] == [1, 2, 3]
    assert series["try_ids"] == [str(r[0]) for r in conn.execute("select id from imagen.jobs order by series_idx")]


def test_expired_lease_is_claimable_again_and_old_holder_cannot_complete(conn, user_a):
    create_series(conn, user_a, 1)
    first = claim(conn, "old", lease=60)
    assert claim(conn, "new") is None, "a live lease must not be handed out"
    # The lease runs out (its end moved into the past: a sleep would race a busy machine's clock).
    conn.execute("update imagen.jobs set lease_expires_at = now() - interval '1 second' where id = %s", (first["id"],))
    second = claim(conn, "new")
    assert second["id"] == first["id"]
    assert second["attempts"] == 2
    with pytest.raises(psycopg.Error) as err:
        complete(conn, first, "old")
    assert err.value.sqlstate == "IL001"
    assert call(conn, "select imagen.heartbeat_job(%s, 'old', 1, 60)", (first["id"],))[0] == "lost"
    complete(conn, second, "new")
    assert job_row(conn, first["id"])["status"] == "done"


def test_completion_is_idempotent(conn, user_a):
    series = create_series(conn, user_a, 1)
    job = claim(conn)
    first = complete(conn, job)
    again = complete(conn, job)
    assert first["id"] == again["id"]
    assert str(first["series_id"]) == series["id"]
    assert conn.execute("select count(*) from imagen.images").fetchone()[0] == 1
    assert job_row(conn, job["id"])["image_id"] == first["id"]


def test_failure_retries_with_backoff_then_fails_with_the_error(conn, user_a):
    create_series(conn, user_a, 1)
    for attempt in (1, 2):
        job = claim(conn)
        assert job["attempts"] == attempt
        failed = call(
            conn,
            "select status, run_after - now() from imagen.fail_job(%s, 'w1', 'boom', 0.01)",
            (job["id"],),
        )
        assert failed[0] == "queued"
        assert failed[1].total_seconds() == pytest.approx(0.01 * 2 ** (attempt - 1), abs=0.005)
        time.sleep(0.05)
    job = claim(conn)
    assert job["attempts"] == 3
    status, error = call(
        conn, "select status, error from imagen.fail_job(%s, 'w1', 'out of memory', 0.01)", (job["id"],)
    )
    assert (status, error) == ("failed", "out of memory")
    time.sleep(0.05)
    assert claim(conn) is None


def test_backoff_delays_the_next_claim(conn, user_a):
    create_series(conn, user_a, 1)
    job = claim(conn)
    call(conn, "select imagen.fail_job(%s, 'w1', 'boom', 30)", (job["id"],))
    assert claim(conn) is None


def test_cancelled_running_try_is_reported_through_heartbeat(conn, user_a):
    series = create_series(conn, user_a, 2)
    running = claim(conn)
    assert call(conn, "select imagen.heartbeat_job(%s, 'w1', 2, 60)", (running["id"],))[0] == "ok"
    with as_user(conn, user_a):
        conn.execute("select imagen.cancel_series(%s)", (series["id"],))
    statuses = dict(conn.execute("select series_idx, status from imagen.jobs").fetchall())
    assert statuses == {1: "running", 2: "cancelled"}
    assert call(conn, "select imagen.heartbeat_job(%s, 'w1', 3, 60)", (running["id"],))[0] == "cancelled"
    assert job_row(conn, running["id"])["status"] == "cancelled"
    with pytest.raises(psycopg.Error):
        complete(conn, running)
    assert conn.execute("select count(*) from imagen.images").fetchone()[0] == 0


def test_retry_job_requeues_a_failed_try(conn, user_a):
    create_series(conn, user_a, 1)
    job = claim(conn)
    conn.execute("update imagen.jobs set max_attempts = 1")
    call(conn, "select imagen.fail_job(%s, 'w1', 'boom', 0)", (job["id"],))
    with as_user(conn, user_a):
        retried = conn.execute("select status, attempts, error from imagen.retry_job(%s)", (job["id"],)).fetchone()
    assert retried == ("queued", 0, None)
    assert claim(conn)["id"] == job["id"]


def test_release_returns_the_try_without_spending_an_attempt(conn, user_a):
    create_series(conn, user_a, 1)
    job = claim(conn)
    status, attempts = call(conn, "select status, attempts from imagen.release_job(%s, 'w1')", (job["id"],))
    assert (status, attempts) == ("queued", 0)


def test_lease_expiring_after_max_attempts_fails_the_try(conn, user_a):
    create_series(conn, user_a, 1)
    conn.execute("update imagen.jobs set max_attempts = 1")
    job = claim(conn, lease=0.01)
    time.sleep(0.05)
    assert claim(conn) is None
    row = job_row(conn, job["id"])
    assert row["status"] == "failed"
    assert row["error"] == "the worker rendering it stopped answering (1 of 1 attempts)"
    assert "w1" not in row["error"]  # which worker (host and pid) is not the owner's business


def test_one_notify_per_create_series_call(db_url, conn, user_a):
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute("listen imagen_jobs")
        create_series(conn, user_a, 10)
        create_series(conn, user_a, 3)
        notices = list(listener.notifies(timeout=0.5))
    assert [n.channel for n in notices] == ["imagen_jobs", "imagen_jobs"]


def test_completing_a_try_cancelled_while_it_rendered_stores_no_image(conn, user_a):
    series = create_series(conn, user_a, 1)
    job = claim(conn)
    with as_user(conn, user_a):
        conn.execute("select imagen.cancel_series(%s)", (series["id"],))
    assert complete(conn, job)["id"] is None
    assert job_row(conn, job["id"])["status"] == "cancelled"
    assert conn.execute("select count(*) from imagen.images").fetchone()[0] == 0


def test_a_claim_with_its_claim_id_writes_the_try_once(conn, user_a):
    # Each row version is a Realtime change event to the owner: a claim is one, not two.
    create_series(conn, user_a, 1)
    claim_id = "7b0f8a52-3a1e-4b6c-9d1e-2f1c0a9b8c7d"
    with conn.transaction(), as_worker(conn):
        taken = conn.execute("select id, claim_id::text from imagen.claim_job('w1', 60, %s)", (claim_id,)).fetchone()
        updates = conn.execute(
            "select n_tup_upd from pg_stat_xact_user_tables where relid = 'imagen.jobs'::regclass"
        ).fetchone()[0]
    assert taken[1] == claim_id
    assert updates == 1
