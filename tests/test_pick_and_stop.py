"""Pick and stop: select_image(series_id, image_id, stop_rest) picks the winner and, asked to,
stops the rest of the series in the same transaction."""

from __future__ import annotations

import psycopg
import pytest

from imagen.console.users import as_user
from tests.world import as_worker, claim, complete, create_series, job_row


def statuses(conn, series_id) -> list[tuple]:
    return conn.execute(
        "select series_idx, status, cancel_requested from imagen.jobs where series_id = %s order by series_idx",
        (series_id,),
    ).fetchall()


def series_with_one_done_one_running(conn, user) -> tuple[dict, dict, dict]:
    """Four tries: 1 done, 2 running, 3 and 4 queued. Returns (series, image of 1, running job)."""
    series = create_series(conn, user, 4)
    image = complete(conn, claim(conn))
    running = claim(conn)
    assert running["series_idx"] == 2
    return series, image, running


def test_pick_and_stop_cancels_queued_flags_running_and_leaves_done(conn, user_a):
    series, image, running = series_with_one_done_one_running(conn, user_a)
    with as_user(conn, user_a):
        picked = conn.execute(
            "select (imagen.select_image(%s, %s, stop_rest => true)).selected_image_id", (series["id"], image["id"])
        ).fetchone()[0]
    assert picked == image["id"]
    assert statuses(conn, series["id"]) == [
        (1, "done", False),
        (2, "running", True),
        (3, "cancelled", False),
        (4, "cancelled", False),
    ]
    assert job_row(conn, image["job_id"])["image_id"] == image["id"]
    # The running try's worker hears it at its next step; nothing is left to claim.
    with as_worker(conn):
        answer = conn.execute("select imagen.heartbeat_job(%s, 'w1', 2, 60)", (running["id"],)).fetchone()[0]
    assert answer == "cancelled"
    assert claim(conn) is None


def test_two_argument_call_still_picks_and_stops_nothing(conn, user_a):
    series, image, _ = series_with_one_done_one_running(conn, user_a)
    with as_user(conn, user_a):
        conn.execute("select imagen.select_image(%s, %s)", (series["id"], image["id"]))
    assert statuses(conn, series["id"]) == [
        (1, "done", False),
        (2, "running", False),
        (3, "queued", False),
        (4, "queued", False),
    ]
    assert conn.execute("select selected_image_id from imagen.series").fetchone()[0] == image["id"]


def test_one_select_image_function_for_postgrest(conn):
    signatures = conn.execute(
        "select p.oid::regprocedure::text from pg_proc p"
        " where p.pronamespace = 'imagen'::regnamespace and p.proname = 'select_image'"
    ).fetchall()
    assert signatures == [("imagen.select_image(uuid,uuid,boolean)",)]
    assert conn.execute(
        "select has_function_privilege('authenticated', 'imagen.select_image(uuid,uuid,boolean)', 'execute'),"
        " has_function_privilege('anon', 'imagen.select_image(uuid,uuid,boolean)', 'execute')"
    ).fetchone() == (True, False)


def test_another_users_series_is_refused_and_left_running(conn, user_a, user_b):
    series, image, _ = series_with_one_done_one_running(conn, user_a)
    before = statuses(conn, series["id"])
    refused = pytest.raises(psycopg.errors.InvalidParameterValue, match="not one of your series")
    with refused, as_user(conn, user_b):
        conn.execute("select imagen.select_image(%s, %s, true)", (series["id"], image["id"]))
    assert statuses(conn, series["id"]) == before
    assert conn.execute("select selected_image_id from imagen.series").fetchone()[0] is None


def test_an_image_of_another_series_is_refused_and_nothing_stops(conn, user_a):
    series, _, _ = series_with_one_done_one_running(conn, user_a)
    other = create_series(conn, user_a, 1)
    # Fair turns: user_a is the only owner, so the other series' try comes after the first's.
    while (job := claim(conn)) and str(job["series_id"]) != other["id"]:
        pass
    other_image = complete(conn, job)
    before = statuses(conn, series["id"])
    refused = pytest.raises(psycopg.errors.InvalidParameterValue, match="is not an image of series")
    with refused, as_user(conn, user_a):
        conn.execute("select imagen.select_image(%s, %s, true)", (series["id"], other_image["id"]))
    assert statuses(conn, series["id"]) == before
