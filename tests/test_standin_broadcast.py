"""The stand-in's Realtime Broadcast, driven by the official realtime-py client: private channels
authorized by RLS on realtime.messages at join, the HTTP broadcast API, fan-out and its counters."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import psycopg
import pytest
from realtime import AsyncRealtimeClient, RealtimeSubscribeStates

from imagen.console.users import as_user
from tests.broadcast import Listener, allow_public_channels

# TEST SETUP ONLY: this test's own policies (permissive, so they add to any the SQL brings):
# the owner of series <id> may read and send broadcasts on 'series:<id>'.
TEST_POLICIES = """
create policy "standin test: series owners read their series topic" on realtime.messages
  for select to authenticated using (
    extension = 'broadcast'
    and exists (select from imagen.series s where 'series:' || s.id = realtime.topic() and s.owner_id = auth.uid()));
create policy "standin test: series owners send on their series topic" on realtime.messages
  for insert to authenticated with check (
    extension = 'broadcast'
    and exists (select from imagen.series s where 'series:' || s.id = realtime.topic() and s.owner_id = auth.uid()));
"""


@pytest.fixture
def realtime_messages(standin):
    """The test's policies on realtime.messages (the bootstrap's platform part), as the platform."""
    with psycopg.connect(standin.realtime.db_url, autocommit=True) as admin:
        admin.execute(TEST_POLICIES)


@pytest.fixture
def series(conn, user_a, realtime_messages) -> str:
    with as_user(conn, user_a):
        created = conn.execute(
            "select imagen.create_series('a red boat', 2,"
            """ '{"model": "tiny", "width": 256, "height": 256, "steps": 2}')"""
        ).fetchone()[0]
    return str(created["id"] if isinstance(created, dict) else created)


def send_http(standin, token: str, messages: list[dict]) -> httpx.Response:
    headers = {"apikey": standin.keys.anon, "Authorization": f"Bearer {token}"}
    return httpx.post(f"{standin.url}/realtime/v1/api/broadcast", json={"messages": messages}, headers=headers)


async def settle(seconds: float = 0.3) -> None:
    await asyncio.sleep(seconds)


def test_the_owner_joins_a_private_series_topic_and_gets_what_the_service_role_sends(standin, series, user_a):
    topic = f"series:{series}"

    async def scenario():
        owner = await Listener(standin, standin.keys.user(user_a), topic, private=True).join()
        assert owner.state == RealtimeSubscribeStates.SUBSCRIBED, owner.error
        message = {"topic": topic, "event": "progress", "payload": {"step": 2, "of": 4}, "private": True}
        response = await asyncio.to_thread(send_http, standin, standin.keys.service_role, [message])
        await settle()
        await owner.close()
        return response, owner.received

    response, received = asyncio.run(scenario())
    assert response.status_code == 202 and response.content == b""
    assert received == [{"event": "progress", "payload": {"step": 2, "of": 4}}]  # the client drops "type"


def test_another_users_private_join_is_refused_and_receives_nothing(standin, series, user_a, user_b):
    topic = f"series:{series}"

    async def scenario():
        owner = await Listener(standin, standin.keys.user(user_a), topic, private=True).join()
        other = await Listener(standin, standin.keys.user(user_b), topic, private=True).join()
        message = {"topic": topic, "event": "progress", "payload": {"step": 1}, "private": True}
        await asyncio.to_thread(send_http, standin, standin.keys.service_role, [message])
        await settle()
        deliveries = await asyncio.to_thread(standin.broadcast_deliveries)
        await asyncio.gather(owner.close(), other.close())
        return owner, other, deliveries

    owner, other, deliveries = asyncio.run(scenario())
    assert owner.state == RealtimeSubscribeStates.SUBSCRIBED
    assert other.state == RealtimeSubscribeStates.CHANNEL_ERROR
    reason = json.loads(str(other.error))["reason"]
    assert reason == f"Unauthorized: You do not have permissions to read from this Channel topic: {topic}"
    assert other.received == [] and len(owner.received) == 1
    # One count per socket: the other's got nothing (the owner's also got the database's own
    # messages about the series, Broadcast from the database).
    assert len(deliveries) == 2 and min(deliveries.values()) == 0


def test_a_user_cannot_send_to_a_private_topic_they_do_not_own_over_http(standin, series, user_a, user_b):
    topic = f"series:{series}"

    async def scenario():
        owner = await Listener(standin, standin.keys.user(user_a), topic, private=True).join()
        message = {"topic": topic, "event": "progress", "payload": {"forged": True}, "private": True}
        refused = await asyncio.to_thread(send_http, standin, standin.keys.user(user_b), [message])
        allowed = await asyncio.to_thread(send_http, standin, standin.keys.user(user_a), [message])
        await settle()
        await owner.close()
        return refused, allowed, owner.received

    refused, allowed, received = asyncio.run(scenario())
    # As BatchBroadcast: 202 either way; only the write policy decides what is delivered.
    assert refused.status_code == allowed.status_code == 202
    assert len(received) == 1


def test_a_public_channel_needs_no_policy_and_fans_client_broadcasts_out(standin, user_a, user_b):
    allow_public_channels(standin)
    topic = f"public-{uuid.uuid4()}"

    async def scenario():
        a = await Listener(standin, standin.keys.user(user_a), topic, private=False, self_broadcast=True).join()
        b = await Listener(standin, standin.keys.user(user_b), topic, private=False).join()
        assert a.state == b.state == RealtimeSubscribeStates.SUBSCRIBED
        await a.channel.send_broadcast("progress", {"from": "a"})
        await b.channel.send_broadcast("progress", {"from": "b"})
        await settle()
        # A private message of the same name does not reach public subscribers.
        await asyncio.to_thread(send_http, standin, standin.keys.service_role,
                                [{"topic": topic, "event": "progress", "payload": {"from": "http"}, "private": True},
                                 {"topic": topic, "event": "progress", "payload": {"from": "http"}}])  # fmt: skip
        await settle()
        total = await asyncio.to_thread(standin.broadcasts_delivered)
        await asyncio.gather(a.close(), b.close())
        return a.received, b.received, total

    got_a, got_b, total = asyncio.run(scenario())
    # a asked for its own messages (config.broadcast.self); b did not.
    # The two clients' messages race each other to a; only what arrives is pinned, not its order.
    assert sorted(m["payload"]["from"] for m in got_a) == ["a", "b", "http"]
    assert sorted(m["payload"]["from"] for m in got_b) == ["a", "http"]
    assert total == 5


def test_the_broadcast_api_wants_a_valid_token_and_well_formed_messages(standin):
    url = f"{standin.url}/realtime/v1/api/broadcast"
    no_token = httpx.post(url, json={"messages": [{"topic": "t", "event": "e", "payload": {}}]})
    assert no_token.status_code == 401 and no_token.json() == {"message": "Unauthorized"}
    malformed = send_http(standin, standin.keys.service_role, [{"topic": "t", "payload": {}}])
    assert malformed.status_code == 422
    assert send_http(standin, standin.keys.anon, [{"topic": "t", "event": "e", "payload": {}}]).status_code == 202


def test_the_wire_frames_are_the_real_servers(standin, user_a):
    """Raw Phoenix v1 frames: the broadcast event keeps type/event/payload, ref null; ack replies."""
    import aiohttp

    allow_public_channels(standin)
    topic = f"realtime:wire-{uuid.uuid4()}"

    async def scenario():
        url = f"{standin.url}/realtime/v1/websocket?apikey={standin.keys.user(user_a)}&vsn=1.0.0"
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            config = {"broadcast": {"ack": True, "self": True}, "private": False}
            await ws.send_json({"event": "phx_join", "topic": topic, "payload": {"config": config}, "ref": "1"})
            joined = await ws.receive_json(timeout=5)
            body = {"type": "broadcast", "event": "progress", "payload": {"step": 1}}
            await ws.send_json({"event": "broadcast", "topic": topic, "payload": body, "ref": "2"})
            return joined, [await ws.receive_json(timeout=5) for _ in range(2)]

    joined, frames = asyncio.run(scenario())
    assert joined["payload"]["status"] == "ok"
    assert {"event": "broadcast", "topic": topic, "ref": None,
            "payload": {"type": "broadcast", "event": "progress", "payload": {"step": 1}}} in frames  # fmt: skip
    assert {"event": "phx_reply", "topic": topic, "ref": "2", "payload": {"status": "ok", "response": {}}} in frames


def test_the_clients_http_send_reaches_the_owner_on_a_private_topic(standin, series, user_a, user_b):
    """realtime-py's channel.http_send posts to /api/broadcast/{topic}/events/{event}?private=true."""
    topic = f"series:{series}"

    async def scenario():
        owner = await Listener(standin, standin.keys.user(user_a), topic, private=True).join()
        await owner.channel.http_send("progress", {"step": 3})
        other = AsyncRealtimeClient(f"{standin.url}/realtime/v1", token=standin.keys.user(user_b))
        stranger = other.channel(topic, {"config": {"private": True}})
        await stranger.http_send("progress", {"forged": True})  # 202, but the write policy refuses it
        await settle()
        await owner.close()
        return owner.received

    assert asyncio.run(scenario()) == [{"event": "progress", "payload": {"step": 3}}]
