"""Series webhooks: the events are written to the outbox by the transaction that causes them (none
lost, none invented), users see only their own endpoints and deliveries, and `imagen webhooks`'
deliverer sends them signed (a local receiver verifies every signature), at least once with one
id per event (a failing then recovering receiver accepts each id once), without a hanging
endpoint delaying anyone else's delivery or any render."""

from __future__ import annotations

import collections
import contextlib
import json
import threading
from datetime import UTC, datetime

import psycopg
import pytest
from standardwebhooks import Webhook

from imagen.console.users import as_user
from imagen.dev.webhook_receiver import WebhookReceiver
from imagen.webhooks.deliverer import RETRY_SCHEDULE, Deliverer, Delivery, signed_headers
from tests.workers import wait_until
from tests.world import as_worker, claim, complete, create_series

FAST = (0.05,) * len(RETRY_SCHEDULE)


@contextlib.contextmanager
def delivering(db_url: str, **kw):
    deliverer = Deliverer(db_url, **{"schedule": FAST, "poll_interval": 0.5, "allow_private_addresses": True, **kw})
    thread = threading.Thread(target=deliverer.run, daemon=True)
    thread.start()
    try:
        yield deliverer
    finally:
        deliverer.stop()
        thread.join(30)


def register(conn, user, receiver: WebhookReceiver | None = None, url: str | None = None, events=None) -> dict:
    with as_user(conn, user):
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        row = cur.execute(
            "insert into imagen.webhook_endpoints (url, events) values (%s, coalesce(%s, array["
            "'try.done', 'try.failed', 'series.done', 'winner.picked']))"
            " returning id, secret",
            (url or receiver.url(), events),
        ).fetchone()
    if receiver is not None:
        receiver.secrets["/hooks"] = row["secret"]
    return row


def outbox(conn) -> list[tuple[str, dict]]:
    # Events of one transaction share created_at: a try's own event before its series'.
    rows = conn.execute(
        "select event, payload from imagen.webhook_deliveries order by created_at, event = 'series.done'"
    ).fetchall()
    return [(event, payload["data"]) for event, payload in rows]


def fail(conn, job: dict) -> None:
    with as_worker(conn):
        conn.execute("update imagen.jobs set max_attempts = 1 where id = %s", (job["id"],))
        conn.execute("select imagen.fail_job(%s, 'w1', 'out of memory', 0)", (job["id"],))


def test_events_are_written_by_the_transaction_that_causes_them(conn, user_a):
    register(conn, user_a, url="https://example.com/hooks")
    series = create_series(conn, user_a, 2)
    done = claim(conn)
    # Rolled back: nothing written, nothing invented.
    with pytest.raises(RuntimeError), conn.transaction():
        complete(conn, done)
        raise RuntimeError("rollback")
    assert outbox(conn) == []
    image = complete(conn, done)
    fail(conn, claim(conn))
    with as_user(conn, user_a):
        conn.execute("select imagen.select_image(%s, %s)", (series["id"], image["id"]))
    events = outbox(conn)
    assert [event for event, _ in events] == ["try.done", "try.failed", "series.done", "winner.picked"]
    assert events[0][1] == {"try_id": str(done["id"]), "kind": "generate", "series_id": str(series["id"]),
                            "series_idx": 1, "status": "done", "image_id": str(image["id"]), "bucket": image["bucket"],
                            "path": image["path"]}  # fmt: skip
    assert events[1][1]["error"] == "out of memory"
    assert events[2][1] == {"series_id": str(series["id"]), "kind": "generate", "done": 1, "failed": 1, "cancelled": 0}
    assert events[3][1] == {
        "series_id": str(series["id"]),
        "kind": "generate",
        "image_id": str(image["id"]),
        "try_id": str(done["id"]),
    }


def test_a_cancel_that_ends_a_series_sends_one_series_done(conn, user_a):
    register(conn, user_a, url="https://example.com/hooks", events=["series.done"])
    series = create_series(conn, user_a, 4)
    with as_user(conn, user_a):
        conn.execute("select imagen.cancel_series(%s)", (series["id"],))
    assert outbox(conn) == [
        ("series.done", {"series_id": str(series["id"]), "kind": "generate", "done": 0, "failed": 0, "cancelled": 4})
    ]


def test_users_see_and_manage_only_their_own_endpoints_and_deliveries(conn, user_a, user_b):
    mine = register(conn, user_a, url="https://example.com/a")
    complete(conn, (create_series(conn, user_a, 1), claim(conn))[1])
    with as_user(conn, user_b):
        assert conn.execute("select count(*) from imagen.webhook_endpoints").fetchone() == (0,)
        assert conn.execute("select count(*) from imagen.webhook_deliveries").fetchone() == (0,)
        conn.execute("update imagen.webhook_endpoints set url = 'https://evil.example' where id = %s", (mine["id"],))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("insert into imagen.webhook_deliveries (endpoint_id, owner_id, event, payload)"
                         " values (%s, auth.uid(), 'try.done', '{}')", (mine["id"],))  # fmt: skip
    with as_user(conn, user_a):
        assert conn.execute("select url from imagen.webhook_endpoints").fetchall() == [("https://example.com/a",)]
        assert conn.execute("select count(*) from imagen.webhook_deliveries").fetchone() == (2,)


def test_a_bad_endpoint_is_refused_and_nothing_written(conn, user_a):
    for url, events, error, message in [
        ("ftp://example.com/x", None, psycopg.errors.InvalidParameterValue, "url: it must start with http"),
        ("https://", None, psycopg.errors.InvalidParameterValue, "url: the host must be 1 to 253 characters"),
        ("https://example.com/x", ["try.started"], psycopg.errors.CheckViolation, "webhook_endpoints_events_known"),
    ]:
        with pytest.raises(error, match=message):
            register(conn, user_a, url=url, events=events)
    assert conn.execute("select count(*) from imagen.webhook_endpoints").fetchone() == (0,)


def test_the_receiver_verifies_every_signed_delivery(db_url, conn, user_a, receivers):
    receiver = receivers()
    register(conn, user_a, receiver)
    create_series(conn, user_a, 2)
    with delivering(db_url):
        complete(conn, claim(conn))
        complete(conn, claim(conn))
        wait_until(lambda: sum(receiver.accepted.values()) == 3, timeout=30, what="3 deliveries")
    assert receiver.bad_signatures == 0
    assert sorted(p["type"] for p in receiver.payloads.values()) == ["series.done", "try.done", "try.done"]
    rows = conn.execute("select id::text, length(payload::text) from imagen.webhook_deliveries").fetchall()
    assert {webhook_id for webhook_id, _ in rows} == set(receiver.accepted)
    assert max(size for _, size in rows) < 1000, "bodies carry ids and paths, never pictures"


def test_a_failing_then_recovering_receiver_gets_every_event_once_per_id(db_url, conn, user_a, receivers):
    receiver = receivers(respond=lambda webhook_id, nth: 503 if nth < 2 else 200)
    register(conn, user_a, receiver)
    create_series(conn, user_a, 3)
    with delivering(db_url):
        for _ in range(3):
            complete(conn, claim(conn))
        wait_until(lambda: len(receiver.accepted) == 4, timeout=30, what="4 events accepted")
    assert receiver.bad_signatures == 0
    assert set(receiver.accepted.values()) == {1}
    # Each id was tried three times: twice refused, once accepted; the same id every time.
    assert collections.Counter(receiver.requests) == {webhook_id: 3 for webhook_id in receiver.accepted}
    assert conn.execute(
        "select count(*) from imagen.webhook_deliveries where delivered_at is not null and attempts = 3"
    ).fetchone() == (4,)


def test_a_receiver_that_never_recovers_is_given_up_after_the_schedule(db_url, conn, user_a, receivers):
    assert sum(RETRY_SCHEDULE) > 24 * 3600, "retries must span more than a day"
    receiver = receivers(respond=lambda webhook_id, nth: 500)
    register(conn, user_a, receiver, events=["try.done"])
    create_series(conn, user_a, 1)
    with delivering(db_url, schedule=(0.05, 0.05)):
        complete(conn, claim(conn))
        wait_until(
            lambda: conn.execute("select given_up_at is not null from imagen.webhook_deliveries").fetchone()[0],
            timeout=30,
            what="the delivery given up",
        )
    assert len(receiver.requests) == 3 and not receiver.accepted
    assert conn.execute("select attempts, last_status, last_error from imagen.webhook_deliveries").fetchone() == (
        3,
        500,
        "HTTP 500",
    )


def test_a_hanging_endpoint_delays_no_other_delivery_and_no_render(db_url, conn, user_a, user_b, receivers):
    hangs = receivers(respond=lambda webhook_id, nth: None)
    answers = receivers()
    register(conn, user_a, hangs, events=["try.done"])
    register(conn, user_b, answers, events=["try.done"])
    create_series(conn, user_a, 3)
    with delivering(db_url, timeout=60):
        try:
            complete(conn, claim(conn))
            wait_until(hangs.hanging.is_set, timeout=30, what="the hanging endpoint's request")
            # user_a's endpoint holds its request open; renders and the other user's events go on.
            complete(conn, claim(conn))
            create_series(conn, user_b, 2)
            while job := claim(conn):
                complete(conn, job)
            wait_until(lambda: len(answers.accepted) == 2, timeout=30, what="the other endpoint's deliveries")
            assert not hangs.accepted and hangs.requests == hangs.requests[:1], "one request in flight per endpoint"
        finally:
            hangs.release.set()


def test_the_payload_is_the_body_that_was_signed(conn, user_a):
    """The deliverer sends the outbox's text as it is; its signature covers exactly those bytes."""
    endpoint = register(conn, user_a, url="https://example.com/hooks")
    complete(conn, (create_series(conn, user_a, 1), claim(conn))[1])
    webhook_id, body = conn.execute("select id::text, payload::text from imagen.webhook_deliveries limit 1").fetchone()
    headers = signed_headers(Delivery(webhook_id, "", body, 1, "", endpoint["secret"]), datetime.now(UTC))
    assert Webhook(endpoint["secret"]).verify(body, headers) == json.loads(body)


def test_a_cancel_racing_a_worker_finishing_the_last_try_sends_one_series_done(db_url, conn, user_a):
    """The worker holds its try's row and the series.done lock; the user's cancel waits for the row
    first, then checks with the worker's commit in sight: one series.done, and no deadlock."""
    register(conn, user_a, url="https://example.com/hooks", events=["series.done"])
    series = create_series(conn, user_a, 3)
    running = claim(conn)
    with psycopg.connect(db_url) as worker, psycopg.connect(db_url, autocommit=True) as user:
        worker.execute("select 1")  # a transaction that stays open: complete_job's locks are held
        complete(worker, running)

        def cancel() -> None:
            with as_user(user, user_a):
                user.execute("select imagen.cancel_series(%s)", (series["id"],))

        cancelling = threading.Thread(target=cancel)
        cancelling.start()
        wait_until(
            lambda: conn.execute(
                "select wait_event_type = 'Lock' from pg_stat_activity where pid = %s", (user.info.backend_pid,)
            ).fetchone()[0],
            timeout=30,
            what="the cancel waiting for the worker's try",
        )
        worker.commit()
        cancelling.join(30)
        assert not cancelling.is_alive()
    assert outbox(conn) == [
        ("series.done", {"series_id": str(series["id"]), "kind": "generate", "done": 1, "failed": 0, "cancelled": 2})
    ]


def test_picking_a_winner_and_stopping_the_rest_while_a_try_finishes_does_not_deadlock(db_url, conn, user_a):
    """select_image holds the series row while it stops the rest, and waits for the try a worker
    holds; the worker's series.done check must not then wait for the series row."""
    register(conn, user_a, url="https://example.com/hooks", events=["series.done", "winner.picked"])
    series = create_series(conn, user_a, 3)
    image = complete(conn, claim(conn))
    running = claim(conn)
    with psycopg.connect(db_url) as worker, psycopg.connect(db_url, autocommit=True) as user:
        worker.execute("select 1 from imagen.jobs where id = %s for update", (running["id"],))

        def pick() -> None:
            with as_user(user, user_a):
                user.execute("select imagen.select_image(%s, %s, true)", (series["id"], image["id"]))

        picking = threading.Thread(target=pick)
        picking.start()
        wait_until(
            lambda: conn.execute(
                "select wait_event_type = 'Lock' from pg_stat_activity where pid = %s", (user.info.backend_pid,)
            ).fetchone()[0],
            timeout=30,
            what="the pick waiting for the worker's try",
        )
        complete(worker, running)
        worker.commit()
        picking.join(30)
        assert not picking.is_alive()
    assert [event for event, _ in outbox(conn)] == ["winner.picked", "series.done"]
