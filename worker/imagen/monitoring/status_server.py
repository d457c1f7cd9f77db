"""The worker's HTTP endpoints for machines: /metrics (Prometheus text or OpenMetrics, as the
scraper asks), /healthz (alive: the loop ticks) and /readyz (ready: model warm, queue answering).
A small threaded server of its own, so a scrape never runs on the render thread.

Its callers are a scraper and the kubelet (deploy/kubernetes/worker.yaml's NetworkPolicy lets no
one else reach the port), but it holds no more than it must for anyone: a connection that has not
sent its request within READ_TIMEOUT is closed, and past MAX_CONNECTIONS at once a new one is
closed unanswered, so idle or half-sent connections cannot pile up threads in the worker."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client.exposition import choose_encoder

from imagen.config import Settings
from imagen.errors import ConfigError
from imagen.monitoring.metrics import QueueSampler, WorkerMetrics
from imagen.monitoring.observer import Observer

log = logging.getLogger(__name__)

READ_TIMEOUT = 5.0  # seconds a connection may take to send its request (each read)
MAX_CONNECTIONS = 16  # connections served at once; a scrape or a probe takes milliseconds


@contextmanager
def watched(settings: Settings, queue, *parts: object) -> Iterator[Observer]:
    """The observer the worker's parts report to: with IMAGEN_METRICS, WorkerMetrics served on
    /metrics, /healthz and /readyz (from now on, so the probes answer while the model loads) and
    the queue's depth sampled; without, one that does nothing."""
    if not settings.metrics:
        yield Observer()
        return
    metrics = WorkerMetrics(worker_id=settings.worker_id, model=settings.model,
                            stall_seconds=settings.health_stall_seconds)  # fmt: skip
    for part in (queue, *parts):  # the queue, its storage and progress publisher report to it
        if hasattr(part, "observer"):
            part.observer = metrics
    sampler = QueueSampler(queue.overview, metrics, settings.metrics_queue_interval)
    with StatusServer(metrics, settings.metrics_host, settings.metrics_port):
        sampler.start()
        try:
            yield metrics
        finally:
            sampler.stop()


class BoundedHTTPServer(ThreadingHTTPServer):
    """A thread per connection, at most `max_connections` of them: over that, closed at once."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, max_connections: int) -> None:
        super().__init__(address, handler)
        self.slots = threading.BoundedSemaphore(max_connections)

    def process_request(self, request, client_address) -> None:
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class StatusServer:
    def __init__(
        self,
        metrics: WorkerMetrics,
        host: str = "127.0.0.1",
        port: int = 9464,
        read_timeout: float = READ_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        handler = type("Handler", (StatusHandler,), {"metrics": metrics, "timeout": read_timeout})
        try:
            self.httpd = BoundedHTTPServer((host, port), handler, max_connections)
        except OSError as exc:  # a probe port that cannot be bound must stop the worker, loudly
            raise ConfigError(f"IMAGEN_METRICS_PORT: cannot listen on {host}:{port}: {exc.strerror}") from None
        self.host, self.port = self.httpd.server_address[:2]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="imagen-status", daemon=True)

    def start(self) -> StatusServer:
        self._thread.start()
        log.info("metrics and probes on http://%s:%s (/metrics /healthz /readyz)", self.host, self.port)
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> StatusServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()


class StatusHandler(BaseHTTPRequestHandler):
    metrics: WorkerMetrics

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            encode, content_type = choose_encoder(self.headers.get("Accept"))
            self._answer(200, encode(self.metrics.registry), content_type)
        elif path in ("/healthz", "/readyz"):
            ok, why = self.metrics.alive() if path == "/healthz" else self.metrics.ready()
            body = json.dumps({"ok": ok, "status": why}).encode()
            self._answer(200 if ok else 503, body, "application/json")
        else:
            self._answer(404, b"not found: /metrics, /healthz, /readyz\n", "text/plain")

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # scrapes every few seconds: not news
        pass
