"""Checking a try's settings costs nothing when they do not change: the queue's writes (claim,
heartbeat, progress, completion, failure, release, cancel) run no rule function, while creating a
series does. Counted by PostgreSQL itself (track_functions = all, this transaction's calls in
pg_stat_xact_user_functions), so no timing is involved."""

from __future__ import annotations

import uuid

import psycopg
from psycopg.conninfo import conninfo_to_dict

from imagen.console.users import acting_as, as_user, user_claims
from tests.database import with_dbname

# Every function that states or applies the settings rules.
RULE_FUNCTIONS = {"settings_rules", "settings_rules_by_field", "settings_with_defaults", "settings_problem",
                  "checked_settings", "assert_valid_n", "try_kinds"}  # fmt: skip


def calls_in_this_transaction(conn) -> dict[str, int]:
    rows = conn.execute(
        "select funcname, calls from pg_stat_xact_user_functions where schemaname in ('imagen', 'imagen_private')"
    ).fetchall()
    return dict(rows)


def tracked(pg_server, db_url) -> psycopg.Connection:
    """A connection to the test database that counts function calls (a superuser's setting)."""
    conn = psycopg.connect(with_dbname(pg_server.admin_url, conninfo_to_dict(db_url)["dbname"]), autocommit=True)
    conn.execute("set track_functions = 'all'")
    return conn


def test_the_queue_s_writes_run_no_settings_rule(pg_server, db_url, user_a):
    # A connection each: a backend's counts stay pending (and visible) until it goes idle.
    with tracked(pg_server, db_url) as conn, as_user(conn, user_a):
        series = conn.execute("select imagen.create_series('a heron', 4)").fetchone()[0]
        created = calls_in_this_transaction(conn)
    # The measurement sees the rules where they run: on insert.
    assert created.keys() & {"settings_problem", "checked_settings"}, created

    with tracked(pg_server, db_url) as conn:
        with acting_as(conn, "service_role"):
            first, second, third, fourth = series["try_ids"]
            for _ in range(4):
                conn.execute("select imagen.claim_job('w', 60, %s)", (uuid.uuid4(),))
            conn.execute("select imagen.heartbeat_job(%s, 'w', 2, 60)", (first,))
            conn.execute("update imagen.jobs set progress = 3, lease_expires_at = now() + interval '1 minute'"
                         " where id = %s", (first,))  # fmt: skip
            conn.execute("select imagen.complete_job(%s, 'w', 'imagen', 'p.png', 10)", (first,))
            conn.execute("select imagen.fail_job(%s, 'w', 'boom', 0)", (second,))
            conn.execute("select imagen.release_job(%s, 'w')", (third,))
            conn.execute("update imagen.jobs set cancel_requested = true where id = %s", (fourth,))
            conn.execute("select imagen.heartbeat_job(%s, 'w', 1, 60)", (fourth,))
            queue_writes = calls_in_this_transaction(conn)
        assert queue_writes.keys() & {"complete_job", "heartbeat_job"}  # the writes were counted...
        assert queue_writes.keys() & RULE_FUNCTIONS == set()  # ...and no rule ran for them

    with tracked(pg_server, db_url) as conn:
        with acting_as(conn, "authenticated", user_claims(user_a)):  # a user's cancel and pick
            conn.execute("select imagen.cancel_series(%s)", (series["id"],))
            image = conn.execute("select id from imagen.images").fetchone()[0]
            conn.execute("select imagen.select_image(%s, %s)", (series["id"], image))
            user_writes = calls_in_this_transaction(conn)
        assert user_writes.keys() & RULE_FUNCTIONS == set()
