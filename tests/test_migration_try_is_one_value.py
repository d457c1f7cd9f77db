"""The migration that made a try's settings one value (20261206090000_imagen_try_is_one_value)
moves a populated database without losing or changing anything: the previous schema is built and
filled through its own API (series, solo tries, variations, pictures, winners, favourites, a retry
in backoff), the migration runs, and every row says the same as before."""

from __future__ import annotations

import shutil
import uuid

import psycopg
import pytest
from psycopg.rows import dict_row

from imagen.console.users import acting_as, as_user, ensure_user
from imagen.db.migrate import migrate
from tests.database import REPO_ROOT

MIGRATIONS = REPO_ROOT / "supabase" / "migrations"
THE_MIGRATION = "20261206090000_imagen_try_is_one_value.sql"
SETTINGS = ("prompt", "model", "width", "height", "steps", "style", "strength")


@pytest.fixture
def previous_schema(databases, tmp_path) -> str:
    """An empty project's database migrated to just before the migration."""
    before = tmp_path / "migrations"
    before.mkdir()
    for path in sorted(MIGRATIONS.glob("*.sql")):
        if path.name >= THE_MIGRATION:
            break
        shutil.copy(path, before)
    url = databases.create_empty("mig")
    migrate(url, before)
    yield url
    databases.drop(url)


def worker_finishes(conn, count: int) -> None:
    with acting_as(conn, "service_role"):
        for _ in range(count):
            job = conn.execute("select id, owner_id, series_id from imagen.claim_job('w', 60)").fetchone()
            path = f"{job[1]}/{job[2] or 'solo'}/{job[0]}.png"
            conn.execute("select imagen.complete_job(%s, 'w', 'imagen', %s, 10)", (job[0], path))


def fill(conn) -> None:
    """The previous API's every kind of row, as users and the worker made them."""
    alice, bob = ensure_user(conn, "alice@example.com"), ensure_user(conn, "bob@example.com")
    with as_user(conn, alice):
        series = conn.execute(
            "select imagen.create_series('a fox in snow', 3, model => 'tiny', width => 256, height => 512,"
            " steps => 2, style => 'ink', seed => 7)"
        ).fetchone()[0]
        conn.execute("select imagen.submit_job('a solo owl', model => 'tiny', seed => 3)")
    worker_finishes(conn, 4)
    images = conn.execute("select id from imagen.images where series_id = %s order by path", (series["id"],))
    first, second, _ = (r[0] for r in images)
    with as_user(conn, alice):
        conn.execute("select imagen.select_image(%s, %s)", (series["id"], second))
        conn.execute("select imagen.set_favourite(%s, true)", (series["id"],))
        child = conn.execute("select imagen.vary_image(%s, 2, strength => 40, seed => 11)", (first,)).fetchone()[0]
    worker_finishes(conn, 1)  # one variation rendered, one still queued
    with as_user(conn, bob):
        conn.execute("select imagen.create_series('a boat', 2)")
    with acting_as(conn, "service_role"):  # bob's first try failed once and waits out its backoff
        failed = conn.execute("select id from imagen.claim_job('w', 60)").fetchone()[0]
        conn.execute("select imagen.fail_job(%s, 'w', 'boom', 600)", (failed,))
    assert child["strength"] == 40


def rows(conn, table: str, key: str = "id") -> dict[uuid.UUID, dict]:
    cur = conn.cursor(row_factory=dict_row)
    return {r[key]: r for r in cur.execute(f"select * from imagen.{table}")}


def test_the_migration_keeps_every_row_and_its_meaning(previous_schema):
    with psycopg.connect(previous_schema, autocommit=True) as conn:
        fill(conn)
        before = {table: rows(conn, table) for table in ("series", "jobs", "images")}
        turns = rows(conn, "owner_turns", "owner_id")
        migrate(previous_schema)
        after = {table: rows(conn, table) for table in ("series", "jobs", "images")}
        assert rows(conn, "owner_turns", "owner_id") == turns  # the fair turns carry on

    assert {t: set(r) for t, r in after.items()} == {t: set(before[t]) for t in after}  # no row lost or added
    for table, moved in (("series", {"base_seed": "seed"}), ("jobs", {})):
        for id_, old in before[table].items():
            new = after[table][id_]
            settings = dict(new["settings"])
            for column, value in old.items():
                if column in new:
                    assert new[column] == value, (table, column)  # updated_at too: moving is not an event
                elif value is not None:
                    assert settings.pop(moved.get(column, column)) == value, (table, column)
            assert settings == {}, (table, settings)  # nothing made up
            assert new["kind"] == ("vary" if old["strength"] is not None else "generate")
    for id_, old in before["images"].items():
        new, its_try = after["images"][id_], after["jobs"][old["job_id"]]
        assert {k: v for k, v in old.items() if k in new} == new
        assert {c: its_try["settings"].get(c) for c in (*SETTINGS[:-1], "seed")} == {
            c: old[c] for c in (*SETTINGS[:-1], "seed")
        }  # a picture's settings, read through its try
    variation = next(s for s in after["series"].values() if s["kind"] == "vary")
    assert variation["settings"]["strength"] == 40 and variation["parent_image_id"] is not None
    assert sum(s["favourite"] for s in after["series"].values()) == 1
    assert sum(s["selected_image_id"] is not None for s in after["series"].values()) == 1
