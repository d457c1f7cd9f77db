"""One simulated node of bench.fleet: a process running K real `Worker` loops on threads, each with its
own postgres transport (WorkerRpcs over PostgresConnector), a renderer that sleeps for the chosen
render time and returns an 8x8 picture, and local storage. The workers share the process's one
LISTEN session (imagen.transports.listener), or, with "listener": "worker", each opens its own.

    python -m bench.fleet_node '<spec as JSON>'

It prints "ready" once every worker runs, serves until SIGTERM, then stops its workers and writes
what it measured to spec["result"]. A node that is SIGKILLed writes nothing (its tries come back
to the queue when their leases expire)."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import ClassVar

from PIL import Image

from imagen.loop.worker import Worker
from imagen.monitoring.observer import Observer
from imagen.transports.listener import Listener
from imagen.transports.local_storage import LocalStorage
from imagen.transports.postgres import PostgresConnector
from imagen.transports.rpcs import WorkerRpcs


class SleepRenderer:
    """A GPU that takes `seconds` a try: the worker overlaps its I/O with the render, as on a GPU."""

    model = "sim"
    device = "sim"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def render(self, job, on_step=None) -> Image.Image:
        if self.seconds:
            time.sleep(self.seconds)
        if on_step is not None:
            on_step(job.steps)
        return Image.new("RGB", (8, 8), (job.seed % 256, 0, 0))


class CountingConnector(PostgresConnector):
    """The postgres transport, counting its calls by RPC (in the window the parent keeps)."""

    counts: ClassVar[Counter] = Counter()  # the node's: every connector of the process adds to it
    lock = threading.Lock()

    def call(self, fn: str, params: dict):
        answer = super().call(fn, params)
        with self.lock:
            self.counts[fn, int(time.time())] += 1
        return answer


class ClaimTimes(Observer):
    """Every claim's round trip, with the wall-clock moment it ended (the parent keeps its window)."""

    def __init__(self) -> None:
        self.claims: list[tuple[float, float, bool]] = []  # (ended at, seconds, got a try)

    def claimed(self, seconds: float, waited: float | None) -> None:
        self.claims.append((time.time(), seconds, waited is not None))


def run_node(spec: dict) -> dict:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    times = ClaimTimes()
    queues, workers, threads = [], [], []
    storage = LocalStorage(Path(spec["storage"]))
    for i in range(spec["workers"]):
        own = Listener(spec["listen_url"]) if spec["listener"] == "worker" else None
        connector = CountingConnector(spec["url"], spec["listen_url"], listener=own)
        queue = WorkerRpcs(connector, f"{spec['name']}-w{i}", lease_seconds=spec["lease_seconds"],
                           retry_backoff_seconds=0.5)  # fmt: skip
        queue.observer = times
        worker = Worker(queue, storage, SleepRenderer(spec["render_seconds"]), poll_interval=spec["poll_interval"],
                        heartbeat_interval=spec["heartbeat_interval"])  # fmt: skip
        thread = threading.Thread(target=worker.run, name=f"worker-{i}", daemon=True)
        thread.start()
        queues.append(queue), workers.append(worker), threads.append(thread)
    print("ready", flush=True)
    while not stop.wait(0.5):  # a signal handler runs between waits
        pass
    for worker in workers:
        worker.stop()
    for thread in threads:
        thread.join(timeout=30)
    listeners = {id(q.connector.listener): q.connector.listener for q in queues if q.connector.listener}
    result = {
        "claims": times.claims,
        "calls": [[fn, second, n] for (fn, second), n in CountingConnector.counts.items()],  # a count a second
        "done": sum(w.stats.done for w in workers),
        "connections": sum(len(q.connector._conns) for q in queues),
        "notifications": max((li.notifications for li in listeners.values()), default=0),
        "wakeups": sum(li.wakeups for li in listeners.values()),
        "listeners": len(listeners),
    }
    for queue in queues:
        queue.close()
    return result


def main(argv: list[str] | None = None) -> None:
    spec = json.loads((argv or sys.argv[1:])[0])
    Path(spec["result"]).write_text(json.dumps(run_node(spec)))


if __name__ == "__main__":
    main()
