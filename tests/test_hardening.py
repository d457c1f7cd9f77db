"""Holes found by attacking the schema, each pinned: concurrency, settings, direct writes through
PostgREST's grants, queue order, deleting a series, and what users can see."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from psycopg.types.json import Jsonb

from imagen.console.users import acting_as, as_user
from tests.world import as_worker, claim, complete, create_series, finish_all, job_row


def unfinished(conn, user) -> int:
    return conn.execute(
        "select count(*) from imagen.jobs where owner_id = %s and status in ('queued', 'running')", (user,)
    ).fetchone()[0]


def user_sql(conn, user, sql: str, params=()):
    with as_user(conn, user):
        return conn.execute(sql, params).fetchall()


# -- 1. the cap under concurrency ------------------------------------------------------------


def test_concurrent_create_series_cannot_exceed_the_cap(db_url, conn, user_a):
    for _ in range(4):
        create_series(conn, user_a, 10)
    first_inserted = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        with psycopg.connect(db_url, autocommit=True) as c, as_user(c, user_a):
            c.execute("select imagen.create_series('first', 10)")
            first_inserted.set()
            time.sleep(0.5)  # still uncommitted while the second one runs

    def second() -> None:
        first_inserted.wait(10)
        try:
            with psycopg.connect(db_url, autocommit=True) as c, as_user(c, user_a):
                c.execute("select imagen.create_series('second', 10)")
        except psycopg.Error as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert unfinished(conn, user_a) == 50
    assert len(errors) == 1 and "too many unfinished tries" in str(errors[0])


# -- 2. the cap is not a session setting -----------------------------------------------------


def test_a_session_cannot_raise_its_own_cap(conn, user_a):
    for _ in range(5):
        create_series(conn, user_a, 10)
    with pytest.raises(psycopg.Error, match="too many unfinished tries"), as_user(conn, user_a):
        conn.execute("select set_config('imagen.max_unfinished_tries', '1000', true)")
        conn.execute("select imagen.create_series('one more', 1)")
    assert unfinished(conn, user_a) == 50


@pytest.mark.parametrize(
    "sql",
    [
        "update imagen.limits set max_unfinished_tries = 1000",
        "insert into imagen.limits (owner_id, max_unfinished_tries) values (auth.uid(), 1000)",
        "delete from imagen.limits",
    ],
)
def test_users_cannot_change_the_cap(conn, user_a, sql):
    with pytest.raises(psycopg.errors.InsufficientPrivilege), as_user(conn, user_a):
        conn.execute(sql)


def test_a_per_user_limit_overrides_the_default(conn, user_a, user_b):
    with as_worker(conn):
        conn.execute("insert into imagen.limits (owner_id, max_unfinished_tries) values (%s, 2)", (user_a,))
    with pytest.raises(psycopg.Error, match="the limit is 2"):
        create_series(conn, user_a, 3)
    create_series(conn, user_b, 3)
    assert user_sql(conn, user_a, "select imagen.max_unfinished_tries()") == [(2,)]
    assert user_sql(conn, user_b, "select imagen.max_unfinished_tries()") == [(50,)]


def test_no_function_relies_on_is_superuser(conn):
    names = conn.execute(
        "select proname from pg_proc where pronamespace = 'imagen'::regnamespace and prosrc like '%is\\_superuser%'"
    ).fetchall()
    assert names == []


# -- 3. direct writes obey the RPCs' rules ---------------------------------------------------

SOLO_INSERT = "insert into imagen.jobs (settings) values (%s)"


@pytest.mark.parametrize(
    ("model", "style"),
    [("", None), ("   ", None), ("m" * 201, None), ("m" * 10_000_000, None), ("tiny", "s" * 1001)],
    ids=["empty model", "blank model", "201-char model", "10 MB model", "1001-char style"],
)
def test_direct_insert_refuses_what_submit_job_refuses(conn, user_a, model, style):
    settings = {"model": model, "width": 256, "height": 256, "steps": 1, "style": style, "seed": 1}
    with pytest.raises(psycopg.Error) as direct, as_user(conn, user_a):
        conn.execute(SOLO_INSERT, (Jsonb({"prompt": "p", **settings}),))
    with pytest.raises(psycopg.Error) as err, as_user(conn, user_a):
        conn.execute("select imagen.submit_job('p', %s)", (Jsonb(settings),))
    assert err.value.sqlstate == direct.value.sqlstate == "22023"
    assert err.value.diag.message_primary == direct.value.diag.message_primary
    assert conn.execute("select count(*) from imagen.jobs").fetchone()[0] == 0


def test_a_series_member_inserted_directly_takes_its_series_settings(conn, user_a):
    """Whatever settings or kind a direct insert gives a series' try, it renders its series'."""
    series = create_series(conn, user_a, 1)
    with as_user(conn, user_a):
        conn.execute("update imagen.series set count = 2 where id = %s", (series["id"],))
        conn.execute(
            """insert into imagen.jobs (series_id, series_idx, kind, settings)"""
            """ values (%s, 2, 'vary', '{"prompt": "something else", "source_path": "x.png"}')""",
            (series["id"],),
        )
    kind, settings = conn.execute(
        "select kind, settings - 'seed' from imagen.jobs where series_id = %s and series_idx = 2", (series["id"],)
    ).fetchone()
    assert (kind, settings) == ("generate", series["settings"])


def test_raising_series_count_without_adding_tries_is_refused(conn, user_a):
    series = create_series(conn, user_a, 1)
    with pytest.raises(psycopg.Error) as err, as_user(conn, user_a):
        conn.execute("update imagen.series set count = 10 where id = %s", (series["id"],))
    assert err.value.sqlstate == "22023"
    assert conn.execute("select count from imagen.series").fetchone()[0] == 1


def test_a_series_inserted_without_its_tries_is_refused(conn, user_a):
    with pytest.raises(psycopg.Error) as err, as_user(conn, user_a):
        conn.execute("""insert into imagen.series (settings, count) values ('{"prompt": "p", "model": "m"}', 3)""")
    assert err.value.sqlstate == "22023"
    assert conn.execute("select count(*) from imagen.series").fetchone()[0] == 0


def test_a_series_written_by_hand_like_create_series_is_accepted(conn, user_a):
    with as_user(conn, user_a):
        series_id = conn.execute(
            """insert into imagen.series (settings, count)"""
            """ values ('{"prompt": "p", "model": "m", "width": 256, "height": 256, "steps": 1, "seed": 7}', 2)"""
            " returning id"
        ).fetchone()[0]
        conn.execute(
            "insert into imagen.jobs (series_id, series_idx) select %s, i from generate_series(1, 2) i", (series_id,)
        )
    seeds = conn.execute(
        "select (settings->>'seed')::int from imagen.jobs where series_id = %s order by series_idx", (series_id,)
    ).fetchall()
    assert seeds == [(7,), (8,)]


# -- 4. queue order --------------------------------------------------------------------------


def test_a_retried_old_try_queues_behind_tries_queued_since(conn, user_a):
    old = create_series(conn, user_a, 1, "old")
    with as_user(conn, user_a):
        conn.execute("select imagen.cancel_job(%s)", (old["try_ids"][0],))
    newer = create_series(conn, user_a, 1, "newer")
    with as_user(conn, user_a):
        conn.execute("select imagen.retry_job(%s)", (old["try_ids"][0],))
    assert [str(claim(conn)["id"]) for _ in range(2)] == [newer["try_ids"][0], old["try_ids"][0]]


def test_a_released_try_keeps_its_place(conn, user_a):
    first = create_series(conn, user_a, 1, "first")
    create_series(conn, user_a, 1, "second")
    job = claim(conn)
    with as_worker(conn):
        conn.execute("select imagen.release_job(%s, 'w1')", (job["id"],))
    assert str(claim(conn)["id"]) == first["try_ids"][0]


# -- 5. deleting a series --------------------------------------------------------------------


def test_deleting_a_series_stops_its_tries_and_leaves_no_solo_items(conn, user_a):
    series = create_series(conn, user_a, 3)
    done = complete(conn, claim(conn))
    running = claim(conn)
    with as_user(conn, user_a):
        conn.execute("delete from imagen.series where id = %s", (series["id"],))
    assert conn.execute("select count(*) from imagen.jobs").fetchone()[0] == 0
    assert conn.execute("select count(*) from imagen.images").fetchone()[0] == 0
    assert claim(conn) is None
    with as_worker(conn):
        assert conn.execute("select imagen.heartbeat_job(%s, 'w1', 2, 60)", (running["id"],)).fetchone()[0] == (
            "cancelled"
        )
    assert complete(conn, running)["id"] is None  # the worker removes what it stored
    with as_worker(conn):
        queued = conn.execute("select bucket, path from imagen.objects_to_delete").fetchall()
    assert queued == [(done["bucket"], done["path"])]


def test_users_cannot_queue_objects_for_deletion(conn, user_a, user_b):
    with pytest.raises(psycopg.errors.InsufficientPrivilege), as_user(conn, user_a):
        conn.execute(
            "insert into imagen.objects_to_delete (owner_id, bucket, path) values (%s, 'imagen', %s)",
            (user_b, f"{user_b}/solo/x.png"),
        )


def test_deleting_an_image_queues_its_object_for_the_worker(conn, user_a, user_b):
    create_series(conn, user_a, 1)
    create_series(conn, user_b, 1)
    images = finish_all(conn)
    with as_user(conn, user_a):
        conn.execute("delete from imagen.images")
    assert user_sql(conn, user_a, "select path from imagen.objects_to_delete") == [
        (i["path"],) for i in images if i["owner_id"] == user_a
    ]
    assert user_sql(conn, user_b, "select path from imagen.objects_to_delete") == []


# -- 6. what users can see -------------------------------------------------------------------


def test_realtime_publishes_no_deletes_and_nothing_of_imagen_s(conn):
    """Every live update is a Broadcast from the database (issue 33): Postgres Changes, which checks
    each change against every subscriber's RLS and is refused with private channels only, carries
    nothing of Imagen's; should a table join the publication, it carries no deletes."""
    pub = conn.execute(
        "select pubinsert, pubupdate, pubdelete, pubtruncate from pg_publication where pubname = 'supabase_realtime'"
    ).fetchone()
    assert pub == (True, True, False, False)
    tables = conn.execute(
        "select tablename from pg_publication_tables where pubname = 'supabase_realtime' and schemaname = 'imagen'"
    ).fetchall()
    assert tables == []


def test_users_cannot_read_which_worker_holds_a_try(conn, user_a):
    series = create_series(conn, user_a, 1)
    claim(conn, "gpu-box-1:4242")
    with pytest.raises(psycopg.errors.InsufficientPrivilege), as_user(conn, user_a):
        conn.execute("select leased_by from imagen.jobs")
    assert user_sql(conn, user_a, "select status from imagen.jobs") == [("running",)]
    with as_user(conn, user_a):
        cancelled = conn.execute(
            "select status, cancel_requested, leased_by from imagen.cancel_job(%s)", (series["try_ids"][0],)
        ).fetchone()
    assert cancelled == ("running", True, None)


def test_user_rpcs_returning_a_try_work_without_reading_leased_by(conn, user_a):
    with as_user(conn, user_a):
        job = conn.execute(
            """select (imagen.submit_job('a solo owl', '{"width": 256, "height": 256}')).id"""
        ).fetchone()[0]
        assert conn.execute("select status from imagen.cancel_job(%s)", (job,)).fetchone() == ("cancelled",)
        assert conn.execute("select status from imagen.retry_job(%s)", (job,)).fetchone() == ("queued",)
    assert job_row(conn, job)["status"] == "queued"


def test_service_role_still_reads_leased_by(conn, user_a):
    create_series(conn, user_a, 1)
    claim(conn, "w7")
    with acting_as(conn, "service_role"):
        assert conn.execute("select leased_by from imagen.jobs").fetchall() == [("w7",)]
