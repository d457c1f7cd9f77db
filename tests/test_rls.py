"""The RLS matrix: anon, user A, user B and service_role against every table and RPC."""

from __future__ import annotations

import psycopg
import pytest

from imagen.console.users import acting_as, as_user
from tests.world import create_series, finish_all, job_row

TABLES = ["series", "jobs", "images"]
WORKER_RPCS = [
    "select imagen.claim_job('x', 60)",
    "select imagen.heartbeat_job(gen_random_uuid(), 'x', 1, 60)",
    "select imagen.complete_job(gen_random_uuid(), 'x', 'imagen', 'p', 1)",
    "select imagen.fail_job(gen_random_uuid(), 'x', 'boom')",
    "select imagen.release_job(gen_random_uuid(), 'x')",
]
USER_RPCS = [
    "select imagen.create_series('p', 1)",
    "select imagen.submit_job('p')",
    "select imagen.add_tries(gen_random_uuid(), 1)",
    "select imagen.select_image(gen_random_uuid(), gen_random_uuid())",
    "select imagen.cancel_series(gen_random_uuid())",
    "select imagen.cancel_job(gen_random_uuid())",
    "select imagen.retry_job(gen_random_uuid())",
]


@pytest.fixture
def world(conn, user_a, user_b):
    """A and B each own a series of two, rendered, plus one queued series."""
    a = create_series(conn, user_a, 2, "alice's")
    b = create_series(conn, user_b, 2, "bob's")
    finish_all(conn)
    a_queued = create_series(conn, user_a, 1, "alice's queued")
    b_queued = create_series(conn, user_b, 1, "bob's queued")
    return {"a": a, "b": b, "a_queued": a_queued, "b_queued": b_queued}


def expect_denied(conn, role, claims, sql, params=()):
    with pytest.raises(psycopg.errors.InsufficientPrivilege), acting_as(conn, role, claims):
        conn.execute(sql, params)


def owners_seen(conn, user, table):
    with as_user(conn, user):
        return {r[0] for r in conn.execute(f"select distinct owner_id from imagen.{table}")}


@pytest.mark.parametrize("table", TABLES)
def test_anon_cannot_read(conn, world, table):
    expect_denied(conn, "anon", None, f"select * from imagen.{table}")


@pytest.mark.parametrize("sql", USER_RPCS + WORKER_RPCS)
def test_anon_cannot_call_any_rpc(conn, sql):
    expect_denied(conn, "anon", None, sql)


@pytest.mark.parametrize("table", TABLES)
def test_users_see_only_their_own_rows(conn, world, user_a, user_b, table):
    assert owners_seen(conn, user_a, table) == {user_a}
    assert owners_seen(conn, user_b, table) == {user_b}


@pytest.mark.parametrize("table", TABLES)
def test_service_role_sees_everyone(conn, world, user_a, user_b, table):
    with acting_as(conn, "service_role"):
        owners = {r[0] for r in conn.execute(f"select owner_id from imagen.{table}")}
    assert owners == {user_a, user_b}


@pytest.mark.parametrize("table", ["series", "images"])
def test_user_cannot_delete_other_users_rows(conn, world, user_a, table):
    with as_user(conn, user_a):
        deleted = conn.execute(f"delete from imagen.{table} where owner_id <> %s", (user_a,)).rowcount
    assert deleted == 0
    with acting_as(conn, "service_role"):
        assert conn.execute(f"select count(*) from imagen.{table} where owner_id <> %s", (user_a,)).fetchone()[0]


def test_users_cannot_delete_jobs_at_all(conn, world, user_a):
    expect_denied(conn, "authenticated", {"sub": str(user_a), "role": "authenticated"}, "delete from imagen.jobs")


def test_user_cannot_update_other_users_series(conn, world, user_a):
    b = world["b"]
    with as_user(conn, user_a):
        updated = conn.execute("update imagen.series set count = 10 where id = %s", (b["id"],)).rowcount
    assert updated == 0


def test_favourites_are_marked_by_the_series_owner_only(conn, world, user_a):
    with as_user(conn, user_a):
        mine = conn.execute("select (imagen.set_favourite(%s, true)).favourite", (world["a"]["id"],)).fetchone()[0]
        theirs = conn.execute("update imagen.series set favourite = true where id = %s", (world["b"]["id"],)).rowcount
    assert (mine, theirs) == (True, 0)
    with pytest.raises(psycopg.Error, match="is not one of your series"), as_user(conn, user_a):
        conn.execute("select imagen.set_favourite(%s, true)", (world["b"]["id"],))
    assert conn.execute("select favourite from imagen.series where id = %s", (world["b"]["id"],)).fetchone() == (False,)


def test_user_cannot_select_other_users_image(conn, world, user_a):
    b_image = conn.execute("select id from imagen.images where series_id = %s limit 1", (world["b"]["id"],)).fetchone()[
        0
    ]
    for series in (world["a"], world["b"]):
        with pytest.raises(psycopg.Error) as err, as_user(conn, user_a):
            conn.execute("select imagen.select_image(%s, %s)", (series["id"], b_image))
        assert err.value.sqlstate == "22023"
    assert conn.execute("select count(*) from imagen.series where selected_image_id is not null").fetchone()[0] == 0


@pytest.mark.parametrize("action", ["cancel_series", "add_tries"])
def test_user_cannot_act_on_other_users_series(conn, world, user_a, action):
    args = "%s" if action == "cancel_series" else "%s, 1"
    with pytest.raises(psycopg.Error) as err, as_user(conn, user_a):
        conn.execute(f"select imagen.{action}({args})", (world["b_queued"]["id"],))
    assert err.value.sqlstate == "22023"
    assert job_row(conn, world["b_queued"]["try_ids"][0])["status"] == "queued"


@pytest.mark.parametrize("action", ["cancel_job", "retry_job"])
def test_user_cannot_act_on_other_users_job(conn, world, user_a, action):
    with pytest.raises(psycopg.Error) as err, as_user(conn, user_a):
        conn.execute(f"select imagen.{action}(%s)", (world["b_queued"]["try_ids"][0],))
    assert err.value.sqlstate == "22023"


def test_user_cannot_insert_images(conn, world, user_a):
    job = world["a_queued"]["try_ids"][0]
    expect_denied(
        conn,
        "authenticated",
        {"sub": str(user_a), "role": "authenticated"},
        "insert into imagen.images (job_id, owner_id, bucket, path, bytes) values (%s, %s, 'imagen', 'x', 1)",
        (job, user_a),
    )


@pytest.mark.parametrize(
    "assignment",
    [
        "status = 'done'",
        "status = 'running'",
        "leased_by = 'me'",
        "lease_expires_at = now()",
        "attempts = 0",
        "max_attempts = 10",
        "settings = '{}'",
        "kind = 'vary'",
        "image_id = null",
        "progress = 4",
        "error = 'x'",
        "owner_id = gen_random_uuid()",
    ],
)
def test_user_cannot_forge_worker_state(conn, world, user_a, assignment):
    job = world["a_queued"]["try_ids"][0]
    expect_denied(
        conn,
        "authenticated",
        {"sub": str(user_a), "role": "authenticated"},
        f"update imagen.jobs set {assignment} where id = %s",
        (job,),
    )
    assert job_row(conn, job)["status"] == "queued"


def test_user_cannot_insert_a_try_into_other_users_series(conn, world, user_a):
    b = world["b_queued"]
    with pytest.raises(psycopg.errors.InsufficientPrivilege), as_user(conn, user_a):
        conn.execute(
            "insert into imagen.jobs (series_id, series_idx) values (%s, 1)",
            (b["id"],),
        )


def test_user_cannot_insert_a_job_done(conn, user_a):
    with pytest.raises(psycopg.errors.InsufficientPrivilege), as_user(conn, user_a):
        conn.execute("""insert into imagen.jobs (settings, status) values ('{"prompt": "p"}', 'done')""")


@pytest.mark.parametrize("sql", WORKER_RPCS)
def test_user_cannot_call_worker_rpcs(conn, user_a, sql):
    expect_denied(conn, "authenticated", {"sub": str(user_a), "role": "authenticated"}, sql)


def test_owner_can_delete_own_image_and_job_keeps_history(conn, world, user_a):
    with as_user(conn, user_a):
        image = conn.execute(
            "delete from imagen.images where series_id = %s returning job_id", (world["a"]["id"],)
        ).fetchall()
    assert len(image) == 2
    job = job_row(conn, image[0][0])
    assert (job["status"], job["image_id"]) == ("done", None)


def test_storage_owner_reads_only_own_folder(conn, world, user_a, user_b):
    with acting_as(conn, "service_role"):
        for user in (user_a, user_b):
            conn.execute("insert into storage.objects (bucket_id, name) values ('imagen', %s)", (f"{user}/solo/x.png",))
    with as_user(conn, user_a):
        names = [r[0] for r in conn.execute("select name from storage.objects")]
        # As the Storage API deletes: with the flag storage.protect_delete() asks for.
        conn.execute("select set_config('storage.allow_delete_query', 'true', true)")
        deleted = conn.execute("delete from storage.objects where name like %s", (f"{user_b}/%",)).rowcount
    assert names == [f"{user_a}/solo/x.png"]
    assert deleted == 0


def test_storage_rows_cannot_be_deleted_with_plain_sql(conn, world, user_a):
    # As on a hosted project: even the owner (and postgres) must go through the Storage API.
    with acting_as(conn, "service_role"):
        conn.execute("insert into storage.objects (bucket_id, name) values ('imagen', %s)", (f"{user_a}/solo/z.png",))
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="Storage API"), as_user(conn, user_a):
        conn.execute("delete from storage.objects where name = %s", (f"{user_a}/solo/z.png",))
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="Storage API"):
        conn.execute("delete from storage.objects")


def test_users_cannot_write_storage(conn, user_a):
    with pytest.raises(psycopg.errors.InsufficientPrivilege), as_user(conn, user_a):
        conn.execute("insert into storage.objects (bucket_id, name) values ('imagen', %s)", (f"{user_a}/solo/y.png",))
