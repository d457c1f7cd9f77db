""" "More like this" in the database: imagen.vary_image starts a child series of variations of
one of the caller's pictures, under create_series' rules, cap and RLS; the series knows its parent
picture, and each try the picture's path, which users can never write."""

from __future__ import annotations

import psycopg
import pytest

from imagen.console.users import as_user
from tests.world import create_tiny_series


def finished_picture(conn, user) -> str:
    """A try of `user` finished as the worker would leave it (inserted as postgres); its image id."""
    series = create_tiny_series(conn, user, n=1, seed=7)
    return str(
        conn.execute(
            "insert into imagen.images (job_id, owner_id, series_id, bucket, path, bytes)"
            " select id, owner_id, series_id, 'imagen', owner_id || '/' || series_id || '/' || id || '.png', 10"
            " from imagen.jobs where series_id = %s returning id",
            (series["id"],),
        ).fetchone()[0]
    )


def vary(conn, user, image_id, n=2, **named):
    args = "".join(f", {k} => %({k})s" for k in named)
    with as_user(conn, user):
        return conn.execute(
            f"select imagen.vary_image(%(image)s, %(n)s{args})", {"image": image_id, "n": n, **named}
        ).fetchone()[0]


def counts(conn) -> tuple[int, int]:
    return conn.execute("select (select count(*) from imagen.series), (select count(*) from imagen.jobs)").fetchone()


def test_a_variation_series_knows_its_parent_and_its_tries_their_source(conn, user_a):
    image_id = finished_picture(conn, user_a)
    child = vary(conn, user_a, image_id, n=3)
    assert (child["kind"], child["parent_image_id"], child["count"]) == ("vary", image_id, 3)
    assert child["settings"]["strength"] == 35  # the published default
    parent_settings, path = conn.execute(
        "select j.settings, i.path from imagen.images i join imagen.jobs j on j.id = i.job_id"
    ).fetchone()
    shared = ("prompt", "model", "width", "height", "steps")
    assert {k: child["settings"][k] for k in shared} == {k: parent_settings[k] for k in shared}
    parent = (*(parent_settings[k] for k in shared), path, parent_settings["seed"])
    tries = conn.execute(
        "select (settings->>'strength')::int, settings->>'source_path', (settings->>'seed')::bigint from imagen.jobs"
        " where series_id = %s and kind = 'vary' order by series_idx",
        (child["id"],),
    ).fetchall()
    assert [(s, p) for s, p, _ in tries] == [(35, parent[5])] * 3
    assert len({seed for *_, seed in tries} | {parent[6]}) == 4  # new seeds
    with as_user(conn, user_a):  # add_tries carries the source on
        conn.execute("select imagen.add_tries(%s, 1)", (child["id"],))
    assert conn.execute("select settings->>'source_path' from imagen.jobs where series_id = %s and series_idx = 4",
                        (child["id"],)).fetchone() == (parent[5],)  # fmt: skip


BAD_INPUTS = [
    ({"n": 0}, "n must be between 1 and 10, got 0"),
    ({"n": 11}, "n must be between 1 and 10, got 11"),
    ({"strength": 4}, "strength must be between 5 and 95, got 4"),
    ({"strength": 96}, "strength must be between 5 and 95, got 96"),
    ({"strength": None}, "strength must be between 5 and 95, got null"),
    ({"seed": -1}, "seed must be between 0 and 4294967295, got -1"),
]


def test_vary_image_refuses_bad_input_naming_the_field_and_writes_nothing(conn, user_a):
    # One database for every case (each call is its own transaction): clones cost the suite seconds.
    image_id = finished_picture(conn, user_a)
    before = counts(conn)
    for named, message in BAD_INPUTS:
        with pytest.raises(psycopg.Error) as err:
            vary(conn, user_a, image_id, **{"n": 2, **named})
        assert (err.value.sqlstate, err.value.diag.message_primary) == ("22023", message)
        assert counts(conn) == before


def test_nobody_varies_another_user_s_picture(conn, user_a, user_b):
    image_id = finished_picture(conn, user_a)
    before = counts(conn)
    with pytest.raises(psycopg.Error) as err:
        vary(conn, user_b, image_id)
    assert (err.value.sqlstate, err.value.diag.message_primary) == (
        "22023",
        f"image_id {image_id} is not one of your pictures",
    )
    # Nor by writing the row directly: the foreign key alone would accept any picture.
    with pytest.raises(psycopg.errors.InsufficientPrivilege), as_user(conn, user_b):
        conn.execute(
            "insert into imagen.series (kind, settings, count, parent_image_id)"
            """ values ('vary', '{"prompt": "x", "model": "tiny", "strength": 50}', 1, %s)""",
            (image_id,),
        )
    assert counts(conn) == before


def test_users_never_write_a_try_s_source(conn, user_a):
    image_id = finished_picture(conn, user_a)
    elsewhere = '"source_path": "someone-else/their/picture.png"'
    # A solo variation is refused (a source comes only from a series' parent picture)...
    with pytest.raises(psycopg.errors.InvalidParameterValue) as refused, as_user(conn, user_a):
        conn.execute(f"""insert into imagen.jobs (kind, settings) values ('vary', '{{"prompt": "x", {elsewhere}}}')""")
    assert refused.value.diag.message_primary.startswith("kind: a vary try is made from one of your pictures")
    # ...a solo try cannot name one...
    with pytest.raises(psycopg.errors.InvalidParameterValue), as_user(conn, user_a):
        conn.execute(f"""insert into imagen.jobs (settings) values ('{{"prompt": "x", {elsewhere}}}')""")
    # ...and a series' try takes its series' settings, whatever it was given.
    child = vary(conn, user_a, image_id, n=1)
    with as_user(conn, user_a):
        conn.execute("select imagen.add_tries(%s, 1)", (child["id"],))
    with pytest.raises(psycopg.errors.InsufficientPrivilege), as_user(conn, user_a):
        conn.execute("""update imagen.jobs set settings = settings || '{"source_path": "x.png"}' where true""")
    assert vary(conn, user_a, image_id, n=1)["parent_image_id"] == image_id


def test_variations_count_against_the_cap_on_unfinished_tries(conn, user_a):
    image_id = finished_picture(conn, user_a)  # 1 try, still queued
    conn.execute("insert into imagen.limits (owner_id, max_unfinished_tries) values (%s, 3)", (user_a,))
    before = counts(conn)
    with pytest.raises(psycopg.Error) as err:
        vary(conn, user_a, image_id, n=3)
    assert err.value.sqlstate == "PT429"
    assert counts(conn) == before


def test_deleting_the_parent_picture_keeps_the_child_series(conn, user_a):
    image_id = finished_picture(conn, user_a)
    child = vary(conn, user_a, image_id, n=1)
    conn.execute("delete from imagen.images where id = %s", (image_id,))
    assert conn.execute("select parent_image_id, kind, (settings->>'strength')::int from imagen.series where id = %s",
                        (child["id"],)).fetchone() == (None, "vary", 35)  # fmt: skip
    with pytest.raises(psycopg.Error) as err, as_user(conn, user_a):
        conn.execute("select imagen.add_tries(%s, 1)", (child["id"],))
    assert err.value.sqlstate == "22023" and "is made from was deleted" in err.value.diag.message_primary
