"""Every live update is a Broadcast sent by the database on a private topic (issue 33): triggers
call realtime.send(), Realtime (here its stand-in) reads the realtime.messages rows from the WAL
and delivers them to the channels joined to the topic, authorized by RLS on realtime.messages —
with the project set to private channels only, as the stand-in is by default."""

from __future__ import annotations

import asyncio
import json

import psycopg
from realtime import RealtimeSubscribeStates

from tests.broadcast import Listener
from tests.test_series_broadcast import may_receive
from tests.workers import wait_until
from tests.world import as_worker, claim, complete, create_series

WORKER_TOPIC = "imagen:worker"
SERIES_EVENTS = ("try", "tries_added", "series", "progress")


def messages(conn: psycopg.Connection) -> list[tuple[str, str, dict]]:
    """(topic, event, payload) of every message the database sent, oldest first."""
    rows = conn.execute(
        "select topic, event, payload from realtime.messages where extension = 'broadcast' order by inserted_at"
    ).fetchall()
    return [(t, e, p) for t, e, p in rows]


def test_the_database_sends_a_try_s_changes_to_its_owner_s_topic_and_wakes_the_worker(conn, user_a):
    series = create_series(conn, user_a, 3)
    topic = f"series:{series['id']}"
    # One statement queued three tries: one wake-up for the workers, one message for the page.
    assert [(t, e) for t, e, _ in messages(conn)] == [(WORKER_TOPIC, "queued"), (topic, "tries_added")]
    assert messages(conn)[1][2]["tries"] == 3
    conn.execute("delete from realtime.messages")

    job = claim(conn)
    with as_worker(conn):  # a heartbeat that only renews the lease is no news to anyone
        renew = "update imagen.jobs set lease_expires_at = now() + interval '1 minute' where id = %s"
        conn.execute(renew, (job["id"],))
    image = complete(conn, job)
    sent = messages(conn)
    assert [(t, e) for t, e, _ in sent] == [(topic, "try"), (topic, "try")]
    running, done = (p["record"] for _, _, p in sent)
    assert (running["id"], running["status"]) == (str(job["id"]), "running")
    assert (done["status"], done["image_id"]) == ("done", str(image["id"]))
    # Only what the owner may select: never which worker holds the try.
    assert "leased_by" not in done and "claim_id" not in done and "series_idx" in done


def test_only_the_service_role_may_read_the_worker_topic(conn, user_a):
    assert not may_receive(conn, user_a, WORKER_TOPIC)
    assert not may_receive(conn, None, WORKER_TOPIC, role="anon")
    assert may_receive(conn, None, WORKER_TOPIC, role="service_role")


def test_with_private_channels_only_the_owner_gets_the_live_updates_and_another_user_nothing(
    conn, standin, user_a, user_b
):
    assert standin.realtime.limits.private_only  # the stand-in's default, as Imagen runs
    series_a = create_series(conn, user_a, 1)["id"]
    series_b = create_series(conn, user_b, 1)["id"]
    conn.execute("delete from imagen.jobs where series_id = %s", (series_b,))  # only a's try gets rendered

    async def scenario():
        keys = standin.keys
        owner = await Listener(standin, keys.user(user_a), f"series:{series_a}", True, events=SERIES_EVENTS).join()
        other = await Listener(standin, keys.user(user_b), f"series:{series_a}", True, events=SERIES_EVENTS).join()
        others_own = await Listener(standin, keys.user(user_b), f"series:{series_b}", True, events=SERIES_EVENTS).join()
        snooper = await Listener(standin, keys.user(user_b), WORKER_TOPIC, True, events=("queued",)).join()
        public = await Listener(standin, keys.user(user_b), f"series:{series_a}", False, events=SERIES_EVENTS).join()
        worker = await Listener(standin, keys.service_role, WORKER_TOPIC, True, events=("queued",)).join()
        create_series(conn, user_a, 1)
        await asyncio.to_thread(lambda: [complete(conn, job) for job in iter(lambda: claim(conn), None)])
        tries = lambda: [m["payload"]["record"]["status"] for m in owner.received if m["event"] == "try"]  # noqa: E731
        await asyncio.to_thread(wait_until, lambda: len(tries()) >= 2, 10, 0.02, "the owner's try messages")
        await asyncio.to_thread(wait_until, lambda: worker.received, 10, 0.02, "the worker's wake-up")
        listeners = (owner, other, others_own, snooper, public, worker)
        await asyncio.gather(*(x.close() for x in listeners))
        return listeners

    owner, other, others_own, snooper, public, worker = asyncio.run(scenario())
    assert owner.state == worker.state == others_own.state == RealtimeSubscribeStates.SUBSCRIBED
    assert other.state == snooper.state == public.state == RealtimeSubscribeStates.CHANNEL_ERROR
    assert json.loads(str(public.error))["reason"] == "PrivateOnly: This project only allows private channels"
    statuses = [m["payload"]["record"]["status"] for m in owner.received if m["event"] == "try"]
    assert statuses == ["running", "done"]
    assert [m["event"] for m in worker.received] == ["queued"]
    assert other.received == snooper.received == public.received == []
    assert str(series_a) not in json.dumps(others_own.received)  # b's own channel: only b's series
