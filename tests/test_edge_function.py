"""The `imagine` edge function served by Deno on 127.0.0.1, against the PostgREST/Storage
stand-in (tests/supabase_standin) and the real test database — docs/deploy.md's curl calls."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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
def imagine(deno_imagine) -> str:
    return deno_imagine[0]


@pytest.fixture
def deno_imagine(standin, tmp_path):
    """`deno run` of supabase/functions/imagine/index.ts with the project's URL and anon key: its
    URL and its process."""
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
        yield url, proc
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
    assert len(created.json()["try_ids"]) == 2

    queued = httpx.get(imagine, params={"series_id": series_id}, headers=alice)
    assert queued.status_code == 200
    assert [t["status"] for t in queued.json()["tries"]] == ["queued", "queued"]
    # The places imagen.queue counts: the same the web app and `imagen status` show.
    assert [(t["place"], t["place_in_line"]) for t in queued.json()["tries"]] == [(1, 1), (2, 2)]

    from pydantic import SecretStr

    from imagen.loop.worker import Worker
    from imagen.transports.rpcs import WorkerRpcs
    from imagen.transports.supabase.project import SupabaseProject
    from imagen.transports.supabase.queue import SupabaseConnector
    from imagen.transports.supabase.storage import SupabaseStorage

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


def test_the_function_and_imagen_status_show_the_queues_places(imagine, standin, user_a, user_b, conn, db_url,
                                                                monkeypatch, capsys):  # fmt: skip
    """Behind another user's series, the places the GET and `imagen status` show are imagen.queue's
    (the web app shows the same queue's: tests/test_web_queue_places.py)."""
    from imagen.cli import main
    from tests.world import as_worker, create_series

    create_series(conn, user_b, 3)  # queued first: B's turn comes first
    created = httpx.post(imagine, json={"prompt": "a heron", "n": 2}, headers=bearer(standin.keys.user(user_a)))
    series_id = created.json()["series_id"]
    with as_worker(conn):
        counted = conn.execute(
            "select place, place_in_line from imagen.queue where series_id = %s order by series_idx", (series_id,)
        ).fetchall()
    # Turns: B's 1st, A's 1st, B's 2nd, A's 2nd.
    assert counted == [(2, 1), (4, 2)]

    read = httpx.get(imagine, params={"series_id": series_id}, headers=bearer(standin.keys.user(user_a))).json()
    assert [(t["place"], t["place_in_line"]) for t in read["tries"]] == counted

    monkeypatch.setenv("IMAGEN_DATABASE_URL", db_url)
    assert main(["status", series_id]) == 0
    shown = capsys.readouterr().out
    for place, line in counted:
        assert f"queued (#{place} in queue, #{line} in its owner's line)" in shown


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


# -- issue 19: the function under hostile HTTP ----------------------------------------------------

BIG = 20 * 1024 * 1024


def post_raw(url: str, token: str, total: int, chunked: bool) -> tuple[int, dict]:
    """POST a `total`-byte JSON body (a huge prompt) over a raw socket, with Content-Length or
    chunked, and read the answer while the body is still being sent: a server that answers early
    is seen to, and the sender stops when the connection closes."""
    parsed = httpx.URL(url)
    sock = socket.create_connection((parsed.host, parsed.port), timeout=60)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    sock.sendall(
        f"POST {parsed.path} HTTP/1.1\r\nHost: {parsed.host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\n{framing}\r\n\r\n".encode()
    )
    head, tail = b'{"prompt": "', b'", "n": 1}'

    def send() -> None:
        try:
            pieces = [head] + [b"x" * 65536] * ((total - len(head) - len(tail)) // 65536)
            pieces.append(b"x" * (total - len(head) - len(tail) - 65536 * (len(pieces) - 1)) + tail)
            for piece in pieces:
                sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if chunked else piece)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed: what a client sees when refused early

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    answer = b""
    try:
        while b"\r\n\r\n" not in answer:
            got = sock.recv(65536)
            if not got:
                break
            answer += got
    finally:
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        sender.join(30)
    lines = answer.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split(" ")[1]), {k.lower(): v for k, v in headers.items()}


def memory_kb(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: int(v.split()[0]) for k, v in (line.split(":", 1) for line in status) if k in ("VmRSS", "VmHWM")}


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_an_oversized_body_is_a_413_and_memory_stays_flat(deno_imagine, standin, user_a, chunked):
    url, proc = deno_imagine
    token = standin.keys.user(user_a)
    assert post_raw(url, token, 200, chunked)[0] == 201  # warm, and a small body of this shape is served
    before = memory_kb(proc.pid)
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: post_raw(url, token, BIG, chunked)[0], range(8)))
    after = memory_kb(proc.pid)
    framing = "chunked" if chunked else "Content-Length"
    print(f"deno memory, 8 parallel 20 MB bodies ({framing}): "
          f"RSS {before['VmRSS'] >> 10} -> {after['VmRSS'] >> 10} MB, peak {after['VmHWM'] >> 10} MB")  # fmt: skip
    assert statuses == [413] * 8
    # The bodies were 160 MB in all; what was read of them is 8 x 64 KiB.
    assert after["VmHWM"] - before["VmRSS"] < 48 * 1024, (before, after)


def test_non_json_content_type_is_a_415(imagine, standin, user_a):
    headers = {"Authorization": f"Bearer {standin.keys.user(user_a)}", "Content-Type": "text/plain"}
    response = httpx.post(imagine, content=b'{"prompt": "x", "n": 1}', headers=headers)
    assert response.status_code == 415


def test_the_service_role_key_is_not_a_users_token(imagine, standin, user_a):
    created = httpx.post(imagine, json={"prompt": "mine", "n": 1}, headers=bearer(standin.keys.user(user_a)))
    series_id = created.json()["series_id"]
    service = bearer(standin.keys.service_role)
    assert httpx.get(imagine, params={"series_id": series_id}, headers=service).status_code == 401
    assert httpx.post(imagine, json={"prompt": "x", "n": 1}, headers=service).status_code == 401


def test_a_deleted_or_unknown_user_is_a_401(imagine, standin, conn):
    gone = conn.execute("insert into auth.users (id, email) values (gen_random_uuid(), 'gone@x.org') returning id")
    gone = gone.fetchone()[0]
    token = standin.keys.user(gone)
    conn.execute("delete from auth.users where id = %s", (gone,))
    assert httpx.post(imagine, json={"prompt": "x", "n": 1}, headers=bearer(token)).status_code == 401
    unknown = bearer(standin.keys.user(uuid.uuid4()))
    assert httpx.post(imagine, json={"prompt": "x", "n": 1}, headers=unknown).status_code == 401
    # A read finds nothing of theirs (RLS): 404, as for any series the caller cannot see.
    missing = httpx.get(imagine, params={"series_id": str(uuid.uuid4())}, headers=bearer(token))
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"prompt": "a\\u0000b", "n": 1}', "prompt"),
        ('{"prompt": "\\ud800", "n": 1}', "prompt"),
        ('{"prompt": "x", "n": 1, "style": "\\u0000"}', "style"),
        ('{"prompt": "x", "n": 1, "style": "\\udfff"}', "style"),
        ('{"prompt": "x", "n": 1, "constructor": 1}', "constructor"),
        ('{"prompt": "x", "n": 1, "__proto__": {"a": 1}}', "__proto__"),
        ('{"prompt": "x", "n": 1, "toString": "y"}', "toString"),
        ('{"prompt": "x", "n": 1, "hasOwnProperty": 0}', "hasOwnProperty"),
        ('{"prompt": "x", "n": 1, "valueOf": 0}', "valueOf"),
        ('{"prompt": "x", "n": 3.0}', "n"),
        ('{"prompt": "x", "n": 1e1}', "n"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(imagine, standin, user_a, conn, raw, field):
    response = httpx.post(imagine, content=raw.encode(), headers=bearer(standin.keys.user(user_a)))
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith(f"{field}: ")
    assert conn.execute("select count(*) from imagen.series").fetchone()[0] == 0


def test_the_cap_is_a_429_with_retry_after(imagine, standin, user_a, conn):
    conn.execute("insert into imagen.limits (owner_id, max_unfinished_tries) values (%s, 3)", (user_a,))
    alice = bearer(standin.keys.user(user_a))
    assert httpx.post(imagine, json={"prompt": "x", "n": 2}, headers=alice).status_code == 201
    response = httpx.post(imagine, json={"prompt": "x", "n": 2}, headers=alice)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert response.json()["error"].startswith("too many unfinished tries: you have 2 queued or running")
