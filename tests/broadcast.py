"""Listening to Broadcast in tests the way a browser does: the official realtime-py client joined
to one channel with a user's token."""

from __future__ import annotations

import asyncio
import dataclasses

from realtime import AsyncRealtimeClient, RealtimeSubscribeStates


class Listener:
    """One realtime-py client joined to one channel, collecting the broadcasts it receives."""

    def __init__(self, standin, token: str, topic: str, private: bool, self_broadcast: bool = False,
                 events: tuple[str, ...] = ("progress",)) -> None:  # fmt: skip
        self.client = AsyncRealtimeClient(f"{standin.url}/realtime/v1", token=token)
        self.topic, self.private, self.self_broadcast, self.events = topic, private, self_broadcast, events
        self.received: list[dict] = []
        self.state: RealtimeSubscribeStates | None = None
        self.error: Exception | None = None

    async def join(self) -> Listener:
        await self.client.connect()
        config = {"broadcast": {"ack": True, "self": self.self_broadcast}, "private": self.private}
        self.channel = self.client.channel(self.topic, {"config": config})
        for event in self.events:
            self.channel.on_broadcast(event, self.received.append)
        answered = asyncio.get_running_loop().create_future()

        def on_state(state, error) -> None:
            if not answered.done():
                answered.set_result((state, error))

        await self.channel.subscribe(on_state)
        self.state, self.error = await asyncio.wait_for(answered, 10)
        return self

    async def close(self) -> None:
        await self.client.close()


def allow_public_channels(standin) -> None:
    """Switches the stand-in's "private channels only" off (its default is on, as Imagen runs), for
    a test about public channels or Postgres Changes themselves."""
    standin.realtime.limits = dataclasses.replace(standin.realtime.limits, private_only=False)
