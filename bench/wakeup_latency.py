"""Wake-up latency: create_series commit → the worker's first claim of that series, for
LISTEN/NOTIFY, for Supabase Realtime (through the stand-in), and for the poll timer alone."""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import psycopg
from pydantic import SecretStr

from bench.common import NullRenderer, bench_database, parser, print_table, summary_ms, wait_for, write_results
from imagen.postgres_queue import PostgresQueue
from imagen.storage import LocalStorage
from imagen.user_session import as_user
from imagen.worker import Worker


class PollOnlyQueue(PostgresQueue):
    """The postgres transport with its LISTEN thread doing nothing: only the poll timer wakes it."""

    def _listen(self) -> None:
        self._stop.wait()


class ClaimClock:
    """Wraps a queue; notes when each series' first try is claimed."""

    def __init__(self, queue) -> None:
        self.queue = queue
        self.first_claim: dict[str, float] = {}

    def claim(self):
        job = self.queue.claim()
        if job is not None and job.series_idx == 1:
            self.first_claim[str(job.series_id)] = time.perf_counter()
        return job

    def __getattr__(self, name):
        return getattr(self.queue, name)


def measure(name: str, queue, url: str, user, samples: int, poll_interval: float) -> dict:
    clock = ClaimClock(queue)
    worker = Worker(clock, LocalStorage(Path(tempfile.mkdtemp())), NullRenderer(), poll_interval=poll_interval)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    latencies = []
    try:
        time.sleep(0.5)  # subscribed and idle
        with psycopg.connect(url, autocommit=True) as conn:
            for _ in range(samples):
                with as_user(conn, user):
                    series = conn.execute("select imagen.create_series('wake', 1, width => 256, height => 256)")
                    series_id = series.fetchone()[0]["id"]
                committed = time.perf_counter()
                claimed = wait_for(lambda sid=series_id: clock.first_claim.get(sid), timeout=30, interval=0.0002)
                latencies.append(claimed - committed)
                time.sleep(0.01)  # let the worker settle back into waiting
    finally:
        worker.stop()
        queue._wake.set()
        thread.join(timeout=10)
        queue.close()
    return {"wake-up": name, "poll_interval_s": poll_interval, **summary_ms(latencies)}


def main() -> None:
    args = parser(__doc__).parse_args()
    samples = 10 if args.smoke else 500
    poll_samples = 5 if args.smoke else 100
    rows = []
    with bench_database() as (url, user):
        rows.append(measure("LISTEN/NOTIFY", PostgresQueue(url, "bench-notify"), url, user, samples, 2.0))

        from tests.supabase_standin import SupabaseStandIn

        from imagen.supabase_project import SupabaseProject
        from imagen.supabase_queue import SupabaseQueue

        with SupabaseStandIn(url) as standin:
            project = SupabaseProject(standin.url, SecretStr(standin.keys.service_role))
            queue = SupabaseQueue(project, "bench-realtime")
            wait_for(lambda: queue.wakeups.channel is not None and queue.wakeups.channel.is_joined, 10)
            rows.append(measure("Realtime (stand-in)", queue, url, user, samples, 2.0))
        rows.append(measure("poll only", PollOnlyQueue(url, "bench-poll"), url, user, poll_samples, 0.5))
    print_table("Wake-up latency: create_series commit -> first claim (ms)", rows)
    notify = rows[0]
    print(f"\nNOTIFY p50 {notify['p50_ms']:.2f} ms (goal <= 5), p99 {notify['p99_ms']:.2f} ms (goal <= 25)")
    write_results("wakeup_latency", args, {r["wake-up"]: r for r in rows})


if __name__ == "__main__":
    main()
