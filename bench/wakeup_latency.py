"""Wake-up latency: create_series commit → the worker's first claim of that series, for
LISTEN/NOTIFY, for Supabase Realtime (through the stand-in), and for the poll timer alone."""

from __future__ import annotations

import threading
import time

import psycopg
from pydantic import SecretStr

from bench.common import (
    NullRenderer,
    bench_database,
    check_goal,
    parser,
    print_table,
    scratch_folder,
    summary_ms,
    wait_for,
    write_results,
)
from imagen.console.users import as_user
from imagen.loop.worker import Worker
from imagen.transports.local_storage import LocalStorage
from imagen.transports.postgres import PostgresConnector
from imagen.transports.rpcs import WorkerRpcs


class PollOnlyConnector(PostgresConnector):
    """The postgres transport without its LISTEN thread: only the poll timer wakes the worker."""

    def start(self, wake) -> None:
        pass


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
    worker = Worker(clock, LocalStorage(scratch_folder("wakeup-latency-")), NullRenderer(), poll_interval=poll_interval)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    latencies = []
    try:
        time.sleep(0.5)  # subscribed and idle
        with psycopg.connect(url, autocommit=True) as conn:
            for _ in range(samples):
                with as_user(conn, user):
                    series = conn.execute("""select imagen.create_series('wake', 1, '{"width": 256, "height": 256}')""")
                    series_id = series.fetchone()[0]["id"]
                committed = time.perf_counter()
                claimed = wait_for(lambda sid=series_id: clock.first_claim.get(sid), timeout=30, interval=0.0002)
                latencies.append(claimed - committed)
                time.sleep(0.01)  # let the worker settle back into waiting
    finally:
        worker.stop()
        queue.wake()
        thread.join(timeout=10)
        queue.close()
    return {"wake-up": name, "poll_interval_s": poll_interval, **summary_ms(latencies)}


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__).parse_args(argv)
    samples = 10 if args.smoke else 500
    poll_samples = 2 if args.smoke else 100
    rows = []
    with bench_database() as (url, user):
        rows.append(
            measure("LISTEN/NOTIFY", WorkerRpcs(PostgresConnector(url), "bench-notify"), url, user, samples, 2.0)
        )

        from imagen.dev.supabase_standin import SupabaseStandIn
        from imagen.transports.supabase.project import SupabaseProject
        from imagen.transports.supabase.queue import SupabaseConnector

        with SupabaseStandIn(url) as standin:
            project = SupabaseProject(standin.url, SecretStr(standin.keys.service_role))
            queue = WorkerRpcs(SupabaseConnector(project), "bench-realtime")
            wait_for(lambda: queue.connector.is_listening(), 10)
            rows.append(measure("Realtime (stand-in)", queue, url, user, samples, 2.0))
        rows.append(
            measure("poll only", WorkerRpcs(PollOnlyConnector(url), "bench-poll"), url, user, poll_samples, 0.5)
        )
    print_table("Wake-up latency: create_series commit -> first claim (ms)", rows)
    notify = rows[0]
    print(f"\nNOTIFY p50 {notify['p50_ms']:.2f} ms (goal <= 5), p99 {notify['p99_ms']:.2f} ms (goal <= 25)")
    check_goal("wakeup_latency", "NOTIFY wake-up p50 ms", notify["p50_ms"], "<= 5", notify["p50_ms"] <= 5)
    check_goal("wakeup_latency", "NOTIFY wake-up p99 ms", notify["p99_ms"], "<= 25", notify["p99_ms"] <= 25)
    write_results("wakeup_latency", args, {r["wake-up"]: r for r in rows})


if __name__ == "__main__":
    main()
