"""Listening to Broadcast in tests the way a browser does: the official realtime-py client joined
to one channel with a user's token."""

from __future__ import annotations

import asyncio

from realtime import AsyncRealtimeClient, RealtimeSubscribeStates


class Listener:
    """One realtime-py client joined to one channel, collecting the broadcasts it receives."""

    def __init__(self, standin, token: str, topic: str, private: bool, self_broadcast: bool = False) -> None:
        self.client = AsyncRealtimeClient(f"{standin.url}/realtime/v1", token=token)
        self.topic, self.private, self.self_broadcast = topic, private, self_broadcast
        self.received: list[dict] = []
        self.state: RealtimeSubscribeStates | None = None
        self.error: Exception | None = None

    async def join(self) -> Listener:
        await self.client.connect()
        config = {"broadcast": {"ack": True, "self": self.self_broadcast}, "private": self.private}
        self.channel = self.client.channel(self.topic, {"config": config})
        self.channel.on_broadcast("progress", self.received.append)
        answered = asyncio.get_running_loop().create_future()

        def on_state(state, error) -> None:
            if not answered.done():
                answered.set_result((state, error))

        await self.channel.subscribe(on_state)
        self.state, self.error = await asyncio.wait_for(answered, 10)
        return self

    async def close(self) -> None:
        await self.client.close()
