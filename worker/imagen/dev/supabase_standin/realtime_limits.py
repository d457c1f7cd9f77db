"""A Realtime project's limits and its message counter, as supabase/realtime keeps them per tenant
(the `_realtime.tenants` columns the platform sets per plan; Realtime.RateCounter).

The messages-per-second counter (Tenants.events_per_second_key) takes one count for every message
sent through the broadcast API or by a client, and one more for every joined channel a broadcast
is delivered to (MessageDispatcher sends :update_rate_counter to each subscriber's channel). The
RateCounter ticks every 5 s into a bucket of the last 12 ticks; its average is what the
limits are checked against: POST /api/broadcast answers 429 when it is over (or would be with the
batch), and a channel that receives a message while it is over is shut down with "Too many
messages per second". Postgres Changes are counted on a counter of their own (db_events), which
the stand-in counts but does not enforce."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RealtimeLimits:
    max_events_per_second: int = 100  # Free; Pro 500, Team 2,500
    max_payload_size_in_kb: int = 256  # Free; Pro and Team 3,000
    # "Allow public access" off in the dashboard (Supabase's advice for production): public joins
    # refused. On by default here, as Imagen runs: everything it joins is private.
    private_only: bool = True
    # RateCounter: the average over the last `window_ticks` ticks of `tick_seconds` (12 of 5 s, as
    # upstream's RateCounter defaults: a 60 s average that moves in 5 s steps).
    tick_seconds: float = 5.0
    window_ticks: int = 12
    # A refused join (RLS, private-only, a bad token) is answered only after this long, and the
    # socket's other channels wait meanwhile (the join runs in the socket's own process); a failed
    # connect (a refused token) is answered after connect_refusal_seconds.
    join_refusal_seconds: float = 5.0
    connect_refusal_seconds: float = 2.0
    # A joined channel's token is checked again at least this often (@confirm_token_ms_interval),
    # and when it expires.
    confirm_token_seconds: float = 300.0


PLANS = {
    "free": RealtimeLimits(),
    "pro": RealtimeLimits(max_events_per_second=500, max_payload_size_in_kb=3000),
    "team": RealtimeLimits(max_events_per_second=2500, max_payload_size_in_kb=3000),
}


class RateCounter:
    """GenCounter + RateCounter: counts, and every tick moves the count into a bucket of the last
    `window_ticks` ticks; `avg` is the bucket's mean, per second, as of the last tick."""

    def __init__(self, limits: RealtimeLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.tick_seconds = limits.tick_seconds
        self.clock = clock
        self.bucket: deque[int] = deque(maxlen=limits.window_ticks)
        self.count = 0
        self.total = 0
        self._next_tick = clock() + self.tick_seconds

    def _tick(self) -> None:
        now = self.clock()
        for _ in range(self.bucket.maxlen + 1):  # an idle stretch longer than the window empties it
            if now < self._next_tick:
                return
            self.bucket.append(self.count)
            self.count = 0
            self._next_tick += self.tick_seconds
        self._next_tick = now + self.tick_seconds

    def add(self, n: int = 1) -> None:
        self._tick()
        self.count += n
        self.total += n

    @property
    def avg(self) -> float:
        self._tick()
        return sum(self.bucket) / len(self.bucket) / self.tick_seconds if self.bucket else 0.0
