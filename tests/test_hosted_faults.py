"""`imagen worker` against a project that fails the way a hosted one does (the worker's serve() in
this process; a real process where what is tested is the process's exit).

The stand-in answers as PostgREST, Postgres under the hosted timeouts, and the proxy in front of
them would (dev/supabase_standin/faults.py). None of these may stop the worker or cost a try an
attempt: every test ends with each try done once, with one image row and one stored object."""

from __future__ import annotations

import psycopg

from imagen.dev.supabase_standin import SupabaseStandIn
from imagen.dev.supabase_standin.faults import ANSWERS
from tests.workers import run_worker_burst, serve_burst, supabase_worker_env
from tests.world import create_tiny_series


def assert_every_try_done_once(conn: psycopg.Connection, standin, series_id: str, n: int) -> None:
    rows = conn.execute(
        "select j.status, j.attempts, i.path from imagen.jobs j left join imagen.images i on i.job_id = j.id"
        " where j.series_id = %s order by j.series_idx",
        (series_id,),
    ).fetchall()
    assert [(status, attempts) for status, attempts, _ in rows] == [("done", 1)] * n
    assert all(standin.stored_object("imagen", path) for _, _, path in rows)
    assert conn.execute("select count(*) from imagen.images").fetchone()[0] == n


def test_every_transient_answer_of_postgrest_postgres_and_the_proxy_is_retried(conn, standin, user_a, tiny_model,
                                                                             monkeypatch, caplog):  # fmt: skip
    series = create_tiny_series(conn, user_a, n=3)
    # Spread over the RPCs that change state, so that each retry starts from a short backoff.
    rpcs = ("claim_job", "complete_job", "heartbeat_job")
    for n, kind in enumerate(ANSWERS):
        standin.inject(kind, f"/rest/v1/rpc/{rpcs[n % len(rpcs)]}")
    standin.inject("520", "/storage/v1/object/")
    standin.inject("429", "/storage/v1/object/")
    stats = serve_burst(supabase_worker_env(standin, tiny_model), monkeypatch)
    assert (stats.done, stats.failed) == (3, 0)
    assert sorted(kind for kind, _ in standin.faults.served) == sorted([*ANSWERS, "520", "429"])
    assert not [r.getMessage() for r in caplog.records if r.exc_info], "no traceback for a fault that was retried"
    assert_every_try_done_once(conn, standin, series["id"], 3)


def test_an_upload_survives_storage_s_database_timeouts(conn, standin, user_a, tiny_model, monkeypatch):
    """Storage turns its database's statement timeout into "544" and a lock timeout into "423"
    (HTTP 400, the code in the body): both pass, so the upload is retried and no attempt is spent."""
    series = create_tiny_series(conn, user_a, n=2)
    standin.inject("544", "/storage/v1/object/")
    standin.inject("423", "/storage/v1/object/")
    stats = serve_burst(supabase_worker_env(standin, tiny_model), monkeypatch)
    assert (stats.done, stats.failed) == (2, 0)
    assert sorted(kind for kind, _ in standin.faults.served) == ["423", "544"]
    assert_every_try_done_once(conn, standin, series["id"], 2)


def test_a_request_that_never_answers_is_given_up_and_retried(conn, standin, user_a, tiny_model, monkeypatch):
    series = create_tiny_series(conn, user_a, n=2)
    standin.inject("hang", "/rest/v1/rpc/complete_job")
    standin.inject("hang", "/storage/v1/object/")
    stats = serve_burst(supabase_worker_env(standin, tiny_model, request_timeout=1), monkeypatch)
    assert (stats.done, stats.failed) == (2, 0)
    assert [kind for kind, _ in standin.faults.served] == ["hang", "hang"]
    assert_every_try_done_once(conn, standin, series["id"], 2)


def test_a_completion_whose_answer_was_lost_is_not_done_twice(conn, standin, user_a, tiny_model, monkeypatch):
    series = create_tiny_series(conn, user_a, n=2)
    # The image row is written, then the gateway times out: the retry must find it, not fail.
    standin.inject("PGRST003", "/rest/v1/rpc/complete_job", after=True)
    stats = serve_burst(supabase_worker_env(standin, tiny_model), monkeypatch)
    assert (stats.done, stats.failed) == (2, 0)
    assert standin.faults.served == [("PGRST003", "/rest/v1/rpc/complete_job")]
    assert_every_try_done_once(conn, standin, series["id"], 2)


def test_a_schema_the_api_does_not_expose_stops_the_worker_at_start_with_one_line(db_url, tiny_model, tmp_path):
    with SupabaseStandIn(db_url, exposed_schemas=("public", "graphql_public")) as hidden:
        result = run_worker_burst(supabase_worker_env(hidden, tiny_model), tmp_path, timeout=60)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("imagen: the project's API does not expose schema imagen")
    assert "supabase config push" in last and "Exposed schemas" in last
    assert "model loaded" not in result.stderr  # stopped before the model load
    assert "Traceback" not in result.stderr


def test_a_claim_whose_answer_was_lost_gets_its_try_back_instead_of_stranding_it(conn, standin, user_a, tiny_model,
                                                                              monkeypatch):  # fmt: skip
    series = create_tiny_series(conn, user_a, n=2)
    # The claim commits, then the gateway times out. A worker that claimed anew would leave the
    # first try running under its lease (60 s) and, in burst mode, exit without it.
    standin.inject("PGRST003", "/rest/v1/rpc/claim_job", after=True)
    stats = serve_burst(supabase_worker_env(standin, tiny_model, lease_seconds=60), monkeypatch)
    assert (stats.done, stats.failed) == (2, 0)
    assert standin.faults.served == [("PGRST003", "/rest/v1/rpc/claim_job")]
    assert_every_try_done_once(conn, standin, series["id"], 2)
