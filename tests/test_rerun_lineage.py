"""Reruns have a lineage (imagen.rerun_series): the same request again with new seeds, as a new
series whose rerun_of names the original; a series made from a picture is made from it again, of
its kind with its kind's settings. Only the owner reruns a series: another user's is refused in
the usual words and nothing is written."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.types.json import Jsonb

from imagen.console.users import as_user
from tests.world import finish_all


def series_row(conn, series_id) -> dict:
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute("select * from imagen.series where id = %s", (series_id,)).fetchone()


def test_a_rerun_names_its_original_and_asks_the_same_with_new_seeds(conn, user_a, user_b):
    settings = Jsonb({"model": "tiny", "width": 256, "height": 256, "steps": 2, "seed": 7})
    with as_user(conn, user_a):
        original = conn.execute("select imagen.create_series('a heron', 2, %s)", (settings,)).fetchone()[0]
        rerun = conn.execute("select imagen.rerun_series(%s)", (original["id"],)).fetchone()[0]
    first, again = series_row(conn, original["id"]), series_row(conn, rerun["id"])
    assert again["rerun_of"] == first["id"] and rerun["rerun_of"] == str(first["id"])
    assert again["count"] == 2 and again["kind"] == "generate"
    assert {k: v for k, v in again["settings"].items() if k != "seed"} == {
        k: v for k, v in first["settings"].items() if k != "seed"
    }
    assert "seed" not in again["settings"]  # new seeds: a random one per try

    # A series made from a picture: made from it again, of its kind, with its kind's settings.
    finish_all(conn)
    image = conn.execute("select image_id from imagen.jobs where series_id = %s and series_idx = 1", (first["id"],))
    with as_user(conn, user_a):
        child = conn.execute(
            "select imagen.create_from_image(%s, 'vary', 2, %s)", (image.fetchone()[0], Jsonb({"strength": 70}))
        ).fetchone()[0]
        child_rerun = conn.execute("select imagen.rerun_series(%s)", (child["id"],)).fetchone()[0]
    made, again = series_row(conn, child["id"]), series_row(conn, child_rerun["id"])
    assert (again["kind"], again["parent_image_id"], again["rerun_of"]) == ("vary", made["parent_image_id"], made["id"])
    assert again["settings"]["strength"] == 70

    before = conn.execute("select count(*) from imagen.series").fetchone()[0]
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="is not one of your series"), as_user(conn, user_b):
        conn.execute("select imagen.rerun_series(%s)", (original["id"],))
    assert conn.execute("select count(*) from imagen.series").fetchone()[0] == before
