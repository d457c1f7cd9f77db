"""What a worker does with the key or database it is given: the project's new secret key works
like the legacy service_role key, and a key or database that cannot work stops `imagen worker` at
start with one line and exit code 2 (which the systemd unit does not restart on), on either
transport, before the model loads."""

from __future__ import annotations

import httpx
import pytest

from imagen.transports.supabase.keys import key_headers
from tests.database import with_user
from tests.workers import run_worker_burst, supabase_worker_env, worker_env
from tests.world import create_tiny_series


def assert_stopped_with_one_line(result, *expected: str) -> str:
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-2000:]  # no traceback, no log line before it
    assert lines[0].startswith("imagen: ")
    for words in expected:
        assert words in lines[0]
    return lines[0]


def test_a_secret_key_renders_a_try_over_the_supabase_transport(conn, standin, user_a, tiny_model, tmp_path):
    series = create_tiny_series(conn, user_a, n=1)
    env = supabase_worker_env(standin, tiny_model)
    del env["SUPABASE_SERVICE_ROLE_KEY"]
    env["SUPABASE_SECRET_KEY"] = standin.keys.secret_key  # the dashboard's name for it
    result = run_worker_burst(env, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    path = conn.execute("select i.path from imagen.jobs j join imagen.images i on i.job_id = j.id"
                        " where j.series_id = %s and j.status = 'done'", (series["id"],)).fetchone()  # fmt: skip
    assert path is not None and standin.stored_object("imagen", path[0])


def test_an_opaque_key_travels_on_apikey_alone_and_a_legacy_key_also_as_bearer():
    assert key_headers("sb_secret_abc") == {"apikey": "sb_secret_abc"}
    assert key_headers("aaa.bbb.ccc") == {"apikey": "aaa.bbb.ccc", "Authorization": "Bearer aaa.bbb.ccc"}


@pytest.mark.parametrize(
    ("which", "expected"),
    [
        ("anon", "publishable (anon) key"),  # refused before any request
        ("publishable", "publishable (anon) key"),
        ("user", "42501"),  # a signed-in user's token: PostgreSQL refuses the worker's functions
        ("garbage", "PGRST301"),  # no JWT at all
        ("unknown secret", "401: Invalid API key"),  # an opaque key the gateway does not know
    ],
)
def test_a_key_that_cannot_be_the_workers_stops_it_with_one_line(standin, user_a, tiny_model, tmp_path, which,
                                                                 expected):  # fmt: skip
    key = {"anon": standin.keys.anon, "publishable": standin.keys.publishable_key,
           "user": standin.keys.user(user_a), "garbage": "not-a-key",
           "unknown secret": "sb_secret_" + "x" * 32}[which]  # fmt: skip
    env = supabase_worker_env(standin, tiny_model)
    env["SUPABASE_SERVICE_ROLE_KEY"] = key
    line = assert_stopped_with_one_line(run_worker_burst(env, tmp_path, timeout=60), expected, "sb_secret_")
    assert key not in line  # a key is never printed, not even a wrong one


def test_the_gateway_maps_the_secret_key_to_the_service_role_and_refuses_the_anon_key(standin):
    url = f"{standin.url}/rest/v1/rpc/heartbeat_job"
    body = {"job_id": "00000000-0000-0000-0000-000000000000", "worker_id": "w", "progress": 0, "lease_seconds": 60}
    profile = {"Content-Profile": "imagen"}
    as_secret = httpx.post(url, json=body, headers={"apikey": standin.keys.secret_key, **profile})
    assert as_secret.status_code == 200, as_secret.text
    # supabase-js and supabase-py also send the key as a bearer: tolerated when it equals apikey.
    both = {"apikey": standin.keys.secret_key, "Authorization": f"Bearer {standin.keys.secret_key}", **profile}
    assert httpx.post(url, json=body, headers=both).status_code == 200
    bearer_only = httpx.post(url, json=body, headers={"Authorization": f"Bearer {standin.keys.secret_key}", **profile})
    assert (bearer_only.status_code, bearer_only.json()["message"]) == (401, "No API key found in request")
    as_anon = httpx.post(url, json=body, headers={"apikey": standin.keys.publishable_key, **profile})
    assert (as_anon.status_code, as_anon.json()["code"]) == (401, "42501")


def test_an_unmigrated_database_stops_the_worker_with_what_to_run(databases, tiny_model, tmp_path):
    empty = databases.create_empty()
    try:
        result = run_worker_burst(worker_env(empty, tiny_model, tmp_path / "images"), tmp_path, timeout=60)
    finally:
        databases.drop(empty)
    assert_stopped_with_one_line(result, "no imagen schema", "supabase db push", "imagen db migrate")


def test_a_database_login_that_is_refused_stops_the_worker_with_one_line(db_url, tiny_model, tmp_path):
    # anon may not log in: what a wrong user in IMAGEN_DATABASE_URL gets.
    result = run_worker_burst(worker_env(with_user(db_url, "anon"), tiny_model, tmp_path / "images"), tmp_path)
    assert_stopped_with_one_line(result, "credentials were refused", "IMAGEN_DATABASE_URL")


def test_an_unknown_imagen_variable_stops_every_command_naming_the_closest_setting(db_url, tiny_model, tmp_path):
    env = {**worker_env(db_url, tiny_model, tmp_path / "images"), "IMAGEN_MODLE": "tiny"}
    assert_stopped_with_one_line(run_worker_burst(env, tmp_path), "IMAGEN_MODLE is not a setting",
                                 "did you mean IMAGEN_MODEL?")  # fmt: skip
    import subprocess
    import sys

    status = subprocess.run([sys.executable, "-m", "imagen.cli", "status"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert_stopped_with_one_line(status, "did you mean IMAGEN_MODEL?")


def test_with_a_secret_key_realtime_wakes_the_worker_and_no_request_carries_the_key_as_a_bearer(conn, standin,
                                                                                                user_a):  # fmt: skip
    from imagen.config import load_settings
    from imagen.transports import open_transport
    from tests.test_supabase_transport import assert_insert_wakes
    from tests.workers import wait_until

    key = standin.keys.secret_key
    settings = load_settings(transport="supabase", supabase_url=standin.url, supabase_service_role_key=key,
                             realtime_watchdog_interval=0.5)  # fmt: skip
    queue, _ = open_transport(settings, checked=True)
    try:
        project = queue.connector.project
        assert "Authorization" not in project.client.options.headers
        assert "Authorization" not in project.client.postgrest.session.headers
        wait_until(queue.connector.is_listening, 10, what="the Realtime channel joined with the secret key")
        assert_insert_wakes(queue, conn, user_a)
    finally:
        queue.close()
