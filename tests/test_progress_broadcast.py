"""Per-step progress, with a small preview, on the series' private Broadcast topic: a real worker
on the supabase transport sends it through Realtime's HTTP API with the service role; the owner's
browser-like client receives it; another user's join is refused by the RLS policy on
realtime.messages (migration 20261128100300), and receives nothing."""

from __future__ import annotations

import asyncio
import base64
import io

from PIL import Image
from realtime import RealtimeSubscribeStates

from imagen.loop.worker import Worker
from imagen.transports import open_progress, open_transport
from tests.broadcast import Listener
from tests.test_supabase_transport import supabase_settings
from tests.world import create_tiny_series


def test_the_owner_sees_each_step_and_its_preview_and_nobody_else_does(conn, standin, user_a, user_b, renderer):
    series = create_tiny_series(conn, user_a, n=2, steps=3)
    topic = f"series:{series['id']}"

    async def scenario():
        owner = await Listener(standin, standin.keys.user(user_a), topic, private=True).join()
        other = await Listener(standin, standin.keys.user(user_b), topic, private=True).join()
        queue, storage = open_transport(supabase_settings(standin))
        progress = open_progress(queue)
        try:
            worker = Worker(queue, storage, renderer, poll_interval=0.2, progress=progress)
            stats = await asyncio.to_thread(worker.run, True)
        finally:
            progress.close()
            queue.close()
        await asyncio.sleep(0.5)
        await asyncio.gather(owner.close(), other.close())
        return stats, owner, other

    stats, owner, other = asyncio.run(scenario())
    assert stats.done == 2
    assert owner.state == RealtimeSubscribeStates.SUBSCRIBED
    assert other.state != RealtimeSubscribeStates.SUBSCRIBED and other.received == []
    steps = {(m["payload"]["series_idx"], m["payload"]["step"]) for m in owner.received}
    assert (1, 3) in steps and (2, 3) in steps  # the last step of each try (earlier ones may coalesce)
    preview = base64.b64decode(owner.received[-1]["payload"]["preview_jpeg"])
    assert len(preview) <= 10_000
    with Image.open(io.BytesIO(preview)) as img:
        assert img.format == "JPEG" and img.width == img.height
