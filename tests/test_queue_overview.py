"""imagen.queue_overview(), the operator's view behind `imagen queue` and the workers' queue
metrics: it agrees with the rows, names users by id unless asked, and only the service role and
postgres may call it."""

from __future__ import annotations

import json

import psycopg
import pytest

from imagen.cli import main
from imagen.console.fleet import queue_overview
from imagen.console.users import acting_as, as_user, ensure_user
from tests.world import as_worker, claim


def series(conn, user, n: int, model: str = "black-forest-labs/FLUX.1-schnell") -> dict:
    with as_user(conn, user):
        return conn.execute(
            "select imagen.create_series('a heron', %s, jsonb_build_object('model', %s::text))", (n, model)
        ).fetchone()[0]


@pytest.fixture
def busy_queue(conn, user_a, user_b):
    """Three users; tries queued, waiting out a backoff, running, and running on an expired lease."""
    user_c = ensure_user(conn, "c@example.com")
    series(conn, user_a, 4)
    series(conn, user_b, 2, model="tiny")
    series(conn, user_c, 1, model="tiny")
    held = claim(conn, "w1")  # user_a's first try (the owner served least recently goes first)
    expired = claim(conn, "w2")
    conn.execute("update imagen.jobs set lease_expires_at = now() - interval '1 minute' where id = %s",
                 (expired["id"],))  # fmt: skip
    backing_off = conn.execute(
        "select id from imagen.jobs where status = 'queued' and owner_id = %s limit 1", (user_a,)
    ).fetchone()[0]
    conn.execute("update imagen.jobs set run_after = now() + interval '1 hour' where id = %s", (backing_off,))
    return {"users": (user_a, user_b, user_c), "held": held, "expired": expired}


def test_the_overview_agrees_with_the_rows(conn, busy_queue):
    with conn.transaction():  # one now() for the function and the counts below
        view = queue_overview(conn)
        # Each try's state by the one rule the claim uses (test_state_rules pins it against the claim).
        rows = conn.execute(
            "select settings->>'model', imagen_private.try_state(j), extract(epoch from now() - queued_at)::float"
            " from imagen.jobs j where status = any(imagen_private.unfinished_statuses())"
        ).fetchall()
    runnable = [r for r in rows if r[1] == "runnable"]
    # 7 tries: 1 on a live lease, 1 backing off, 1 on an expired lease the next claim requeues.
    assert view["runnable"] == len(runnable) == 5
    assert view["running"] == sum(r[1] == "rendering" for r in rows) == 1
    assert view["waiting"] == sum(r[1] == "waiting" for r in rows) == 1
    assert view["oldest_wait_seconds"] == pytest.approx(max(r[2] for r in runnable))
    by_model = {m: [r for r in runnable if r[0] == m] for m in {r[0] for r in runnable}}
    assert [(m["model"], m["runnable"]) for m in view["by_model"]] == sorted(
        ((m, len(rs)) for m, rs in by_model.items()), key=lambda x: (-x[1], x[0])
    )
    for m in view["by_model"]:
        assert m["oldest_wait_seconds"] == pytest.approx(max(r[2] for r in by_model[m["model"]]))
    user_a, user_b, user_c = (str(u) for u in busy_queue["users"])
    assert [(u["owner_id"], u["unfinished"], u["queued"], u["running"], u["email"]) for u in view["users"]] == [
        (user_a, 4, 3, 1, None), (user_b, 2, 1, 1, None), (user_c, 1, 1, 0, None)
    ]  # fmt: skip
    holders = {w["worker_id"]: w for w in view["workers"]}
    assert holders.keys() == {"w1", "w2"} and all(w["tries"] == 1 for w in holders.values())
    for job in (busy_queue["held"], busy_queue["expired"]):
        started = conn.execute("select to_jsonb(started_at) from imagen.jobs where id = %s", (job["id"],)).fetchone()
        assert holders[job["leased_by"]]["since"] == started[0]


def test_top_users_and_emails_only_when_asked(conn, busy_queue):
    top = queue_overview(conn, top_users=2)["users"]
    assert [u["owner_id"] for u in top] == [str(u) for u in busy_queue["users"][:2]]
    assert queue_overview(conn, top_users=0)["users"] == []
    named = queue_overview(conn, top_users=2, with_emails=True)["users"]
    assert [u["email"] for u in named] == ["a@example.com", "b@example.com"]
    with pytest.raises(psycopg.Error) as err:
        queue_overview(conn, top_users=-1)
    assert err.value.sqlstate == "22023" and "top_users" in str(err.value)


def test_only_the_service_role_and_postgres_may_read_the_overview(conn, user_a):
    series(conn, user_a, 2)
    with as_worker(conn):
        assert queue_overview(conn)["runnable"] == 2
    for role in ("authenticated", "anon"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), acting_as(conn, role):
            queue_overview(conn)
    with pytest.raises(psycopg.errors.InsufficientPrivilege), as_user(conn, user_a):
        queue_overview(conn)


def test_imagen_queue_prints_the_overview(monkeypatch, db_url, conn, busy_queue, capsys):
    monkeypatch.setenv("IMAGEN_DATABASE_URL", db_url)
    assert main(["queue", "--top", "2"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("runnable 5  running 1  waiting out a retry backoff 1")
    assert str(busy_queue["users"][0]) in text and "a@example.com" not in text
    assert "w1" in text and "w2" in text
    assert main(["queue", "--emails", "--json"]) == 0
    view = json.loads(capsys.readouterr().out)
    assert view["users"][0]["email"] == "a@example.com"
