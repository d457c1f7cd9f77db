"""The Realtime stand-in keeps a hosted project's limits and channel life (supabase/realtime's
RateCounter, BatchBroadcast.check_rate_limit, realtime_channel.ex): messages counted with their
fan-out, 429 and channel shutdown over the quota, the payload cap, private-only, a joined
channel's token expiring, and an access_token that loses the channel its read access."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import httpx
import pytest

from imagen.dev.supabase_standin import SupabaseStandIn
from imagen.dev.supabase_standin.realtime_limits import RateCounter, RealtimeLimits
from tests.database import with_dbname
from tests.world import create_tiny_series


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_rate_counter_averages_the_last_window_of_ticks_per_second():
    clock = Clock()
    counter = RateCounter(RealtimeLimits(tick_seconds=0.5, window_ticks=4), clock)
    counter.add(10)
    assert counter.avg == 0.0  # nothing ticked yet: upstream checks the average as of the last tick
    clock.now = 0.5
    assert counter.avg == 20.0  # 10 in half a second
    counter.add(2)
    clock.now = 1.0
    assert counter.avg == (10 + 2) / 2 / 0.5
    clock.now = 10.0  # an idle stretch longer than the window
    assert counter.avg == 0.0


@pytest.fixture
def limited(db_url, pg_server):
    """A stand-in with a tiny quota on a fast clock: 20 messages a second averaged over 2 s."""
    admin_url = with_dbname(pg_server.admin_url, db_url.rsplit("/", 1)[1])
    limits = RealtimeLimits(max_events_per_second=20, max_payload_size_in_kb=1, tick_seconds=0.1, window_ticks=20,
                            confirm_token_seconds=0.2, private_only=False)  # fmt: skip
    with SupabaseStandIn(db_url, admin_url=admin_url, realtime_limits=limits) as server:
        yield server


class RawChannel:
    """One Phoenix socket joined to one topic, keeping every message the server sends on it."""

    def __init__(self, standin, token: str) -> None:
        self.url = f"{standin.url.replace('http', 'ws')}/realtime/v1/websocket?apikey={token}&vsn=1.0.0"
        self.received: list[dict] = []

    async def join(self, session, topic: str, private: bool, token: str | None = None) -> dict:
        self.ws = await session.ws_connect(self.url)
        self.topic = f"realtime:{topic}"
        payload = {"config": {"private": private, "broadcast": {"self": False}}}
        if token:
            payload["access_token"] = token
        await self.send("phx_join", payload, "1")
        reply = await self.next("phx_reply")
        self.reader = asyncio.create_task(self._read())
        return reply["payload"]

    async def send(self, event: str, payload: dict, ref: str | None = None) -> None:
        await self.ws.send_str(json.dumps({"topic": self.topic, "event": event, "payload": payload, "ref": ref}))

    async def next(self, event: str) -> dict:
        while True:
            message = json.loads((await self.ws.receive(timeout=10)).data)
            if message["event"] == event:
                return message

    async def _read(self) -> None:
        async for msg in self.ws:
            self.received.append(json.loads(msg.data))

    def events(self) -> list[str]:
        return [m["event"] for m in self.received]

    def system_messages(self) -> list[str]:
        return [m["payload"]["message"] for m in self.received if m["event"] == "system"]

    async def closed(self, within: float = 5) -> None:
        for _ in range(int(within / 0.02)):
            if "phx_close" in self.events():
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"the channel was not closed: {self.received}")


def post_broadcasts(standin, count: int, topic: str = "room:1", payload: dict | None = None) -> httpx.Response:
    key = standin.keys.service_role
    messages = [{"topic": topic, "event": "progress", "payload": payload or {"n": i}} for i in range(count)]
    return httpx.post(f"{standin.url}/realtime/v1/api/broadcast", json={"messages": messages},
                      headers={"apikey": key, "Authorization": f"Bearer {key}"})  # fmt: skip


def test_over_the_quota_the_api_answers_429_and_channels_that_receive_a_message_are_shut_down(limited):
    """Counted as upstream counts: one per message sent (API or client), one more per channel reached."""

    async def scenario():
        async with aiohttp.ClientSession() as session:
            viewers = [RawChannel(limited, limited.keys.anon) for _ in range(2)]
            sender = RawChannel(limited, limited.keys.anon)
            for channel in [*viewers, sender]:
                assert (await channel.join(session, "room:1", private=False))["status"] == "ok"
            message = {"type": "broadcast", "event": "progress", "payload": {"n": 1}}
            for _ in range(50):  # 150 counted in a moment: 75 a second over the 2 s window
                await sender.send("broadcast", message)
            answers = []
            for _ in range(100):  # until the counter's next tick puts the average over the limit
                answers.append(await asyncio.to_thread(post_broadcasts, limited, 1, "room:other"))
                if answers[-1].status_code == 429:
                    break
            await sender.send("broadcast", message)  # reaches the viewers while over, if nothing did yet
            for viewer in viewers:
                await viewer.closed()
            return viewers, answers

    viewers, answers = asyncio.run(scenario())
    assert answers[-1].status_code == 429
    assert answers[-1].json() == {"message": "You have exceeded your rate limit"}
    delivered = 0
    for viewer in viewers:  # the message is delivered, then the channel shut down
        assert viewer.events()[-2:] == ["system", "phx_close"]
        assert viewer.system_messages() == ["Too many messages per second"]
        delivered += viewer.events().count("broadcast")
    accepted = sum(a.status_code == 202 for a in answers)
    assert limited.realtime.events.total == 51 + delivered + accepted


def test_a_payload_over_the_plan_s_cap_is_refused_with_422_and_not_counted(limited):
    answer = post_broadcasts(limited, 1, payload={"data": "x" * 1000})
    assert answer.status_code == 422
    assert answer.json() == {"errors": {"messages": [{"payload": ["Payload size exceeds tenant limit"]}]}}
    assert limited.realtime.events.total == 0


def test_a_joined_channel_is_closed_when_its_token_expires(limited, user_a):
    # exp is whole seconds, as GoTrue writes it: a ttl of 4 lasts 3 to 4 s, time enough to join under load.
    short = limited.keys.mint({"sub": str(user_a), "role": "authenticated"}, ttl=4)

    async def scenario():
        async with aiohttp.ClientSession() as session:
            viewer = RawChannel(limited, limited.keys.anon)
            assert (await viewer.join(session, "room:1", private=False, token=short))["status"] == "ok"
            await viewer.closed(within=30)
            return viewer

    viewer = asyncio.run(scenario())
    [message] = viewer.system_messages()
    assert message.startswith("Token has expired") and message.endswith("seconds ago")


def test_an_access_token_that_loses_read_access_closes_the_private_channel(limited, conn, user_a, user_b):
    series = create_tiny_series(conn, user_a, n=1)
    topic = f"series:{series['id']}"

    async def scenario():
        async with aiohttp.ClientSession() as session:
            owner = RawChannel(limited, limited.keys.anon)
            assert (await owner.join(session, topic, private=True, token=limited.keys.user(user_a)))["status"] == "ok"
            await owner.send("access_token", {"access_token": limited.keys.user(user_a)})  # a fresh one: fine
            await owner.send("access_token", {"access_token": limited.keys.user(user_b)})  # another user's
            await owner.closed()
            return owner

    owner = asyncio.run(scenario())
    assert owner.system_messages() == [f"You do not have permissions to read from this Channel topic: {topic}"]


def test_a_private_only_project_refuses_public_joins(db_url, pg_server):
    admin_url = with_dbname(pg_server.admin_url, db_url.rsplit("/", 1)[1])

    async def scenario(standin):
        async with aiohttp.ClientSession() as session:
            return await RawChannel(standin, standin.keys.anon).join(session, "room:1", private=False)

    with SupabaseStandIn(db_url, admin_url=admin_url, realtime_limits=RealtimeLimits(private_only=True)) as standin:
        reply = asyncio.run(scenario(standin))
    reason = "PrivateOnly: This project only allows private channels"
    assert reply == {"status": "error", "response": {"reason": reason}}


def test_a_refused_join_is_answered_late_and_the_socket_s_other_channels_wait_meanwhile(db_url, pg_server):
    """As upstream: a refused join's reply comes after join_refusal_seconds (5 s by default) and
    the socket handles nothing else meanwhile; the message counter moves in 5 s steps over 60 s."""
    defaults = RealtimeLimits()
    assert (defaults.join_refusal_seconds, defaults.connect_refusal_seconds) == (5.0, 2.0)
    assert (defaults.tick_seconds, defaults.window_ticks) == (5.0, 12)
    admin_url = with_dbname(pg_server.admin_url, db_url.rsplit("/", 1)[1])

    async def scenario(standin):
        async with aiohttp.ClientSession() as session:
            channel = RawChannel(standin, standin.keys.anon)
            channel.ws = await session.ws_connect(channel.url)
            channel.topic = "realtime:room:1"
            started = time.monotonic()
            await channel.send("phx_join", {"config": {"private": False}}, "1")  # public: refused
            await channel.ws.send_str(json.dumps({"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": "2"}))
            first = json.loads((await channel.ws.receive(timeout=10)).data)
            second = json.loads((await channel.ws.receive(timeout=10)).data)
            return first, second, time.monotonic() - started

    limits = RealtimeLimits(join_refusal_seconds=1.0)
    with SupabaseStandIn(db_url, admin_url=admin_url, realtime_limits=limits) as standin:
        first, second, waited = asyncio.run(scenario(standin))
    assert (first["ref"], first["payload"]["status"]) == ("1", "error")
    assert (second["topic"], second["ref"]) == ("phoenix", "2")  # the heartbeat waited for the refusal
    assert waited >= 1.0
