"""The `imagine` edge function served by Deno on 127.0.0.1, against the PostgREST/Storage
stand-in (tests/supabase_standin) and the real test database — the README's curl calls."""

from __future__ import annotations

import os
import socket
import subprocess

import httpx
import pytest

from tests.database import REPO_ROOT
from tests.workers import wait_until

DENO = REPO_ROOT / ".venv" / "bin" / "deno"
FUNCTIONS = REPO_ROOT / "supabase" / "functions"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def imagine(standin, tmp_path):
    """`deno run` of supabase/functions/imagine/index.ts with the project's URL and anon key."""
    port = free_port()
    env = {**os.environ, "SUPABASE_URL": standin.url, "SUPABASE_ANON_KEY": standin.keys.anon,
           "PORT": str(port), "HOSTNAME": "127.0.0.1"}  # fmt: skip
    log = tmp_path / "deno.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(DENO), "run", "--allow-net", "--allow-env", "--allow-read",
             "--config", str(FUNCTIONS / "imagine" / "deno.json"), str(FUNCTIONS / "imagine" / "index.ts")],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}/imagine"
    try:
        wait_until(lambda: proc.poll() is not None or port_open(port), 120, 0.1, "deno to listen")
        assert proc.poll() is None, log.read_text()
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def test_user_creates_a_series_over_http_and_reads_it_back(imagine, standin, user_a, db_url, renderer, tmp_path):
    alice = bearer(standin.keys.user(user_a))
    created = httpx.post(imagine, json={"prompt": "a heron at dawn", "n": 2, "width": 256, "height": 256,
                                        "model": "tiny"}, headers=alice)  # fmt: skip
    assert created.status_code == 201, created.text
    series_id = created.json()["series_id"]
    assert len(created.json()["job_ids"]) == 2

    queued = httpx.get(imagine, params={"series_id": series_id}, headers=alice)
    assert queued.status_code == 200
    assert [t["status"] for t in queued.json()["tries"]] == ["queued", "queued"]

    from pydantic import SecretStr

    from imagen.transports.rpcs import WorkerRpcs
    from imagen.transports.supabase.project import SupabaseProject
    from imagen.transports.supabase.queue import SupabaseConnector
    from imagen.transports.supabase.storage import SupabaseStorage
    from imagen.worker import Worker

    project = SupabaseProject(standin.url, SecretStr(standin.keys.service_role))
    queue = WorkerRpcs(SupabaseConnector(project), "edge-test")
    try:
        Worker(queue, SupabaseStorage(project), renderer, poll_interval=0.1).run(burst=True)
    finally:
        queue.close()

    done = httpx.get(imagine, params={"series_id": series_id}, headers=alice).json()
    assert [t["status"] for t in done["tries"]] == ["done", "done"]
    picture = httpx.get(done["tries"][0]["image_url"])
    assert picture.status_code == 200 and picture.content.startswith(b"\x89PNG")


def test_other_user_gets_404_and_anon_gets_401(imagine, standin, user_a, user_b):
    created = httpx.post(imagine, json={"prompt": "mine", "n": 1}, headers=bearer(standin.keys.user(user_a)))
    series_id = created.json()["series_id"]
    other = httpx.get(imagine, params={"series_id": series_id}, headers=bearer(standin.keys.user(user_b)))
    assert other.status_code == 404
    assert httpx.post(imagine, json={"prompt": "x", "n": 1}).status_code == 401
    anon = httpx.post(imagine, json={"prompt": "x", "n": 1}, headers=bearer(standin.keys.anon))
    assert anon.status_code == 401


def test_database_validation_reaches_the_caller_as_400(imagine, standin, user_a):
    response = httpx.post(imagine, json={"prompt": "x", "n": 11}, headers=bearer(standin.keys.user(user_a)))
    assert response.status_code == 400
    assert response.json()["error"].startswith("n must be between 1 and 10")


def test_a_number_no_database_integer_holds_is_a_400_not_a_502(imagine, standin, user_a):
    response = httpx.post(imagine, json={"prompt": "x", "n": 1e12}, headers=bearer(standin.keys.user(user_a)))
    assert response.status_code == 400
    assert response.json()["error"].startswith("n: must be an integer")
