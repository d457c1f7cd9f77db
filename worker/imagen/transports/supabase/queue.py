"""The supabase transport's connector: the worker RPCs over PostgREST with the service role,
wake-ups over Realtime. Nothing here knows whether SUPABASE_URL is a real project or a stand-in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from imagen.transports.supabase.project import SupabaseProject
from imagen.transports.supabase.realtime import RealtimeWakeups


class SupabaseConnector:
    credentials = (
        "set SUPABASE_SERVICE_ROLE_KEY to the project's secret key (sb_secret_..., Dashboard > Project Settings >"
        " API Keys) or its legacy service_role key"
    )

    def __init__(self, project: SupabaseProject, watchdog_interval: float = 5.0) -> None:
        self.project = project
        self.watchdog_interval = watchdog_interval
        self.wakeups: RealtimeWakeups | None = None

    def call(self, fn: str, params: dict) -> Any:
        return self.project.call(lambda: self.project.rpc(fn, params))

    def start(self, wake: Callable[[], None]) -> None:
        self.wakeups = RealtimeWakeups(
            self.project.loop,
            self.project.url,
            self.project.key.get_secret_value(),
            wake,
            watchdog_interval=self.watchdog_interval,
            # A pong may take a second on a loaded box, however often the watchdog looks.
            ping_timeout=min(5.0, max(1.0, self.watchdog_interval)),
        )

    broadcast_holds_previews = True

    def broadcast(self, messages: list[dict]) -> None:
        self.project.call(lambda: self.project.broadcast(messages))

    def is_listening(self) -> bool:
        """The Realtime channel is joined: inserts arrive as events."""
        channel = self.wakeups.channel if self.wakeups is not None else None
        return channel is not None and channel.is_joined

    def interrupt(self) -> None:
        """Storage's retries end too: they share the project's stop."""
        self.project.stopping.set()

    def close(self) -> None:
        if self.wakeups is not None:
            self.wakeups.close()
        self.project.close()
