"""Heartbeats answer every time but write the job row only when the lease needs renewing (less
than half of it left); progress is recorded together with a renewal."""

from __future__ import annotations

from imagen.console.users import as_user
from tests.world import as_worker, claim, create_series


def heartbeat(conn, job_id, progress: int, lease: float = 60, worker: str = "w1") -> str:
    with as_worker(conn):
        return conn.execute(
            "select imagen.heartbeat_job(%s, %s, %s, %s)", (job_id, worker, progress, lease)
        ).fetchone()[0]


def row_version(conn, job_id) -> tuple:
    return conn.execute(
        "select xmin::text, updated_at, lease_expires_at, progress from imagen.jobs where id = %s", (job_id,)
    ).fetchone()


def test_heartbeats_in_the_first_half_of_the_lease_write_nothing(conn, user_a):
    create_series(conn, user_a, 1)
    job = claim(conn, lease=60)
    before = row_version(conn, job["id"])
    assert [heartbeat(conn, job["id"], step) for step in range(1, 21)] == ["ok"] * 20
    assert row_version(conn, job["id"]) == before  # same row version, same lease, progress unwritten


def test_a_heartbeat_past_half_the_lease_renews_it_and_records_progress(conn, user_a):
    create_series(conn, user_a, 1)
    job = claim(conn, lease=60)
    # 40 of the 60 seconds gone: 20 left, under half.
    conn.execute("update imagen.jobs set lease_expires_at = now() + interval '20 seconds' where id = %s", (job["id"],))
    before = row_version(conn, job["id"])
    assert heartbeat(conn, job["id"], 3) == "ok"
    after = row_version(conn, job["id"])
    assert after[0] != before[0] and after[1] > before[1]
    left = conn.execute("select extract(epoch from lease_expires_at - now()) from imagen.jobs").fetchone()[0]
    assert 55 < left <= 60
    assert after[3] == 3
    # Renewed: the next ones are quiet again.
    assert heartbeat(conn, job["id"], 4) == "ok"
    assert row_version(conn, job["id"]) == after


def test_an_expired_lease_nobody_took_is_renewed_by_its_holder(conn, user_a):
    create_series(conn, user_a, 1)
    job = claim(conn, lease=60)
    conn.execute("update imagen.jobs set lease_expires_at = now() - interval '1 second' where id = %s", (job["id"],))
    assert heartbeat(conn, job["id"], 2) == "ok"
    assert conn.execute("select lease_expires_at > now() + interval '50 seconds' from imagen.jobs").fetchone()[0]


def test_quiet_heartbeats_still_hear_cancel_and_lost(conn, user_a):
    series = create_series(conn, user_a, 2)
    job = claim(conn, lease=60)
    assert heartbeat(conn, job["id"], 1, worker="someone-else") == "lost"
    with as_user(conn, user_a):
        conn.execute("select imagen.cancel_series(%s)", (series["id"],))
    assert heartbeat(conn, job["id"], 2) == "cancelled"
    assert conn.execute("select status from imagen.jobs where id = %s", (job["id"],)).fetchone()[0] == "cancelled"
