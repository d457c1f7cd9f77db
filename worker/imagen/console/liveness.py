"""Whether any worker seems to be serving the queue, from what the database knows: a worker holds
a lease while it renders, and stamps started_at/finished_at as it claims and ends tries. Tries
that could have been claimed for a while, with no lease held and no try started or ended in that
time, mean that nothing is claiming: `imagen submit --wait` and `imagen status` say so instead of
waiting silently or promising a start "in ~0 s"."""

from __future__ import annotations

import psycopg

# Far above a worker's poll interval (2 s) and the gap between two of its tries.
QUIET_SECONDS = 30.0

# Runnable and rendering as the claim decides them (imagen_private.try_state).
LIVENESS_SQL = """
with unfinished as (
  select imagen_private.try_state(j) as state, j.run_after, j.queued_at from imagen.jobs j
  where j.status = any(imagen_private.unfinished_statuses())
)
select extract(epoch from now() - min(greatest(run_after, queued_at)) filter (where state = 'runnable'))::float
         as waiting,
       extract(epoch from now() - (select max(greatest(started_at, finished_at)) from imagen.jobs))::float as quiet,
       count(*) filter (where state = 'rendering') > 0 as leased
from unfinished
"""


def no_worker_notice(conn: psycopg.Connection, quiet_seconds: float = QUIET_SECONDS) -> str | None:
    """A line to show when no worker seems to be running; None while one is, or nothing waits."""
    waiting, quiet, leased = conn.execute(LIVENESS_SQL).fetchone()
    if leased or waiting is None or waiting < quiet_seconds or (quiet is not None and quiet < quiet_seconds):
        return None
    since = "no try has ever started" if quiet is None else f"none has started or finished for {quiet:.0f} s"
    return (
        f"no worker seems to be running: tries have waited {waiting:.0f} s to be claimed and {since}"
        " (start one with `imagen worker`, or `imagen dev` for a local one)"
    )
