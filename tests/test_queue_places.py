"""The queue order stated once (imagen.queue): the places it shows are the order claim_job serves,
users see their own tries' places in the whole queue, and the expected start comes from recent
render times."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.rows import dict_row

from imagen.console.users import as_user, ensure_user
from tests.world import as_worker, claim, complete, create_series


def submit_solo(conn, user, prompt: str = "solo") -> str:
    with as_user(conn, user):
        return conn.execute("select (imagen.submit_job(%s)).id", (prompt,)).fetchone()[0]


def queue(conn) -> list[dict]:
    with as_worker(conn):
        cur = conn.cursor(row_factory=dict_row)
        return cur.execute(
            "select *, extract(epoch from expected_start - now())::float as starts_in"
            " from imagen.queue where status = 'queued' order by place"
        ).fetchall()


@pytest.fixture
def three_users_queue(conn, user_a, user_b):
    """Three users, series and solo tries queued at different times, one owner already served."""
    user_c = ensure_user(conn, "c@example.com")
    create_series(conn, user_a, 3)
    submit_solo(conn, user_b)
    create_series(conn, user_c, 2)
    # A is served once, so goes behind B and C in the next round.
    complete(conn, claim(conn))
    create_series(conn, user_b, 2)
    submit_solo(conn, user_a)
    submit_solo(conn, user_c)
    create_series(conn, user_a, 2)
    return user_a, user_b, user_c


def test_places_shown_are_the_order_claims_serve(conn, three_users_queue):
    shown = queue(conn)
    assert [row["place"] for row in shown] == list(range(1, len(shown) + 1))
    served = []
    while job := claim(conn):
        served.append(job["id"])
    assert [row["id"] for row in shown] == served
    # Solo tries and all three owners are in it (the order is not trivially one owner's).
    assert {row["owner_id"] for row in shown} == set(three_users_queue)
    assert any(row["series_id"] is None for row in shown)


def test_place_in_line_counts_the_owners_own_tries_in_claim_order(conn, three_users_queue):
    shown = queue(conn)
    for owner in three_users_queue:
        line = [row["place_in_line"] for row in shown if row["owner_id"] == owner]
        assert line == list(range(1, len(line) + 1))


def test_users_read_their_own_places_in_the_whole_queue(conn, three_users_queue):
    _, user_b, _ = three_users_queue
    everyone = {row["id"]: row["place"] for row in queue(conn)}
    with as_user(conn, user_b):
        mine = conn.cursor(row_factory=dict_row).execute("select * from imagen.queue_places()").fetchall()
    assert mine and {row["owner_id"] for row in mine} == {user_b}
    assert {row["id"]: row["place"] for row in mine} == {
        job_id: place for job_id, place in everyone.items() if job_id in {row["id"] for row in mine}
    }
    # B's places count other users' tries: B's second try is not second overall.
    assert max(row["place"] for row in mine) > len(mine)


def test_users_cannot_read_the_whole_queue(conn, user_a):
    create_series(conn, user_a, 1)
    with as_user(conn, user_a), pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("select * from imagen.queue")


def test_a_running_try_has_no_place_and_starts_when_it_started(conn, user_a):
    create_series(conn, user_a, 2)
    running = claim(conn)
    with as_worker(conn):
        rows = conn.execute(
            "select place, place_in_line, expected_start = %s from imagen.queue where id = %s",
            (running["started_at"], running["id"]),
        ).fetchall()
    assert rows == [(None, None, True)]


def test_expected_start_is_unknown_before_any_render_finished(conn, user_a):
    create_series(conn, user_a, 2)
    assert [row["expected_start"] for row in queue(conn)] == [None, None]


def test_expected_start_counts_a_mean_render_per_try_ahead(conn, user_a, user_b):
    create_series(conn, user_a, 2)
    for seconds in (4, 8):
        job = claim(conn)
        complete(conn, job)
        # Renders that took 4 s and 8 s: a mean of 6 s.
        conn.execute(
            "update imagen.jobs set started_at = finished_at - make_interval(secs => %s) where id = %s",
            (seconds, job["id"]),
        )
    create_series(conn, user_b, 3)
    assert [row["starts_in"] for row in queue(conn)] == pytest.approx([0, 6, 12])
