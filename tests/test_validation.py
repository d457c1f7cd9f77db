"""Bad input to the user RPCs: SQLSTATE 22023, a message naming the field, nothing written."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.types.json import Jsonb

from imagen.console.users import as_user

GOOD = {"prompt": "a quiet harbour", "n": 3, "width": 1024, "height": 1024, "steps": 4}

BAD_INPUTS = [
    ("n", {"n": 0}),
    ("n", {"n": 11}),
    ("n", {"n": -1}),
    ("n", {"n": None}),
    ("prompt", {"prompt": None}),
    ("prompt", {"prompt": ""}),
    ("prompt", {"prompt": "   \t\n "}),
    ("prompt", {"prompt": "x" * 2001}),
    ("width", {"width": 1000}),
    ("width", {"width": 240}),
    ("width", {"width": 2064}),
    ("height", {"height": 1031}),
    ("height", {"height": 128}),
    ("height", {"height": 4096}),
    ("steps", {"steps": 0}),
    ("steps", {"steps": 51}),
    ("seed", {"seed": -1}),
    ("seed", {"seed": 2**32}),
    ("model", {"model": ""}),
]


def count_rows(conn) -> tuple[int, int]:
    return conn.execute("select (select count(*) from imagen.series), (select count(*) from imagen.jobs)").fetchone()


def as_rpc_args(args: dict) -> dict:
    """prompt and n as themselves, every other field in the one settings value."""
    return {k: v for k, v in args.items() if k in ("prompt", "n")} | {
        "settings": Jsonb({k: v for k, v in args.items() if k not in ("prompt", "n")})
    }


def call_create_series(conn, user, args: dict):
    args = as_rpc_args(args)
    names = ", ".join(f"{k} => %({k})s" for k in args)
    with as_user(conn, user):
        return conn.execute(f"select imagen.create_series({names})", args).fetchone()[0]


@pytest.mark.parametrize(("field", "override"), BAD_INPUTS, ids=lambda v: str(v)[:30])
def test_create_series_rejects_bad_input(conn, user_a, field, override):
    with pytest.raises(psycopg.Error) as err:
        call_create_series(conn, user_a, {**GOOD, **override})
    assert err.value.sqlstate == "22023"
    assert err.value.diag.message_primary.startswith(field), err.value.diag.message_primary
    assert count_rows(conn) == (0, 0)


@pytest.mark.parametrize(("field", "override"), [b for b in BAD_INPUTS if b[0] != "n"], ids=lambda v: str(v)[:30])
def test_submit_job_rejects_bad_input(conn, user_a, field, override):
    args = as_rpc_args({k: v for k, v in {**GOOD, **override}.items() if k != "n"})
    names = ", ".join(f"{k} => %({k})s" for k in args)
    with pytest.raises(psycopg.Error) as err, as_user(conn, user_a):
        conn.execute(f"select imagen.submit_job({names})", args)
    assert err.value.sqlstate == "22023"
    assert err.value.diag.message_primary.startswith(field)
    assert count_rows(conn) == (0, 0)


def test_boundary_values_are_accepted(conn, user_a):
    call_create_series(conn, user_a, {"prompt": "x" * 2000, "n": 10, "width": 256, "height": 2048, "steps": 50})
    call_create_series(conn, user_a, {"prompt": "y", "n": 1, "width": 2048, "height": 256, "steps": 1})
    assert count_rows(conn) == (2, 11)


def test_defaults_are_flux_schnell_1024_square_4_steps(conn, user_a):
    series = call_create_series(conn, user_a, {"prompt": "a kite", "n": 1})
    settings = series["settings"]
    assert (settings["model"], settings["width"], settings["height"], settings["steps"]) == (
        "black-forest-labs/FLUX.1-schnell",
        1024,
        1024,
        4,
    )


def test_given_seed_gives_consecutive_seeds(conn, user_a):
    series = call_create_series(conn, user_a, {"prompt": "a kite", "n": 4, "seed": 1000})
    seeds = conn.execute(
        "select (settings->>'seed')::bigint from imagen.jobs where series_id = %s order by series_idx", (series["id"],)
    ).fetchall()
    assert [s for (s,) in seeds] == [1000, 1001, 1002, 1003]


def test_unfinished_tries_are_capped_per_user(conn, user_a, user_b):
    for _ in range(5):
        call_create_series(conn, user_a, {"prompt": "fill", "n": 10})
    with pytest.raises(psycopg.Error) as err:
        call_create_series(conn, user_a, {"prompt": "one too many", "n": 1})
    assert "too many unfinished tries" in err.value.diag.message_primary
    assert "50" in err.value.diag.message_primary
    assert count_rows(conn) == (5, 50)
    # Another user is not affected by A's queue.
    call_create_series(conn, user_b, {"prompt": "mine", "n": 2})


def test_add_tries_refuses_more_than_ten(conn, user_a):
    series = call_create_series(conn, user_a, {"prompt": "grow", "n": 8, "seed": 5})
    with as_user(conn, user_a):
        grown = conn.execute("select imagen.add_tries(%s, 2)", (series["id"],)).fetchone()[0]
    assert grown["count"] == 10
    seeds = conn.execute(
        "select (settings->>'seed')::bigint from imagen.jobs where series_id = %s order by series_idx", (series["id"],)
    ).fetchall()
    assert [s for (s,) in seeds] == list(range(5, 15))
    with pytest.raises(psycopg.Error) as err, as_user(conn, user_a):
        conn.execute("select imagen.add_tries(%s, 1)", (series["id"],))
    assert err.value.sqlstate == "22023"
    assert err.value.diag.message_primary.startswith("n ")


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        ({"widht": 512}, "widht is not a setting of a generate try"),
        ({"strength": 35}, "strength is not a setting of a generate try"),
        ({"width": "512"}, 'width must be a multiple of 16 between 256 and 2048, got "512"'),
        ({"width": 512.5}, "width must be a multiple of 16 between 256 and 2048, got 512.5"),
        ({"style": 7}, "style must be at most 200 characters, got 7"),
        ({"source_path": "someone/else.png"}, "source_path is written by the database, not given"),
    ],
    ids=lambda v: str(v)[:30],
)
def test_settings_that_are_unknown_of_another_kind_or_mistyped_are_refused(conn, user_a, settings, said):
    """A typo is never ignored, a number must be a JSON number of the right kind, and a path the
    database derives is never a user's to give."""
    with pytest.raises(psycopg.Error) as err, as_user(conn, user_a):
        conn.execute("select imagen.create_series('a kite', 1, %s)", (Jsonb(settings),))
    assert err.value.sqlstate == "22023"
    assert err.value.diag.message_primary == said
    assert count_rows(conn) == (0, 0)


def test_create_series_of_prompt_and_n_alone_takes_every_default(conn, user_a):
    """The mission's call, create_series(prompt, n), as a frontend makes it."""
    with as_user(conn, user_a):
        series = conn.execute("select imagen.create_series('a kite', 2)").fetchone()[0]
    assert series["count"] == 2 and series["kind"] == "generate"
    assert series["settings"] == {"prompt": "a kite", "model": "black-forest-labs/FLUX.1-schnell",
                                  "width": 1024, "height": 1024, "steps": 4}  # fmt: skip
    assert len(series["try_ids"]) == 2
    assert series["job_ids"] == series["try_ids"]  # the old name, answered for one release


def test_an_integer_written_as_a_decimal_is_kept_as_the_integer(conn, user_a):
    """512.0 and 5.12e2 are the integer 512: the worker and the PNG read 512, never 512.0."""
    series = call_create_series(conn, user_a, {"prompt": "a kite", "n": 1, "width": 512.0, "height": 5.12e2})
    assert (series["settings"]["width"], series["settings"]["height"]) == (512, 512)
    assert conn.execute("select settings->>'width' from imagen.jobs").fetchone()[0] == "512"


def test_a_refusal_quotes_at_most_forty_characters_of_a_value(conn, user_a):
    with pytest.raises(psycopg.Error) as err, as_user(conn, user_a):
        conn.execute("""select imagen.create_series('a kite', 1, '{"width": 1e1000}')""")
    said = err.value.diag.message_primary
    assert said.startswith("width must be a multiple of 16 between 256 and 2048, got 1000000") and len(said) < 120


def test_settings_written_later_by_the_service_are_checked_as_on_insert(conn, user_a):
    """An operator's or the service role's update: integers kept as integers, a variation keeps its source."""
    series = call_create_series(conn, user_a, {"prompt": "a kite", "n": 1})
    conn.execute("""update imagen.jobs set settings = settings || '{"steps": 8.0}'""")
    assert conn.execute("select settings->>'steps' from imagen.jobs").fetchone() == ("8",)
    with pytest.raises(psycopg.Error) as err:
        conn.execute("""update imagen.jobs set kind = 'vary', settings = settings || '{"strength": 30}'""")
    assert err.value.diag.message_primary.startswith("kind: a vary try is made from a picture of its series")
    assert series["count"] == 1
