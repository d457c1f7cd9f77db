"""A webhook endpoint on localhost, for the tests and the delivery benchmark: it verifies every
delivery's Standard Webhooks signature with the secret of the path it was sent to, and notes what
came and when."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook


class WebhookReceiver:
    """respond(webhook_id, nth request of that id) gives the status, or None to hang until
    `release` is set. `secrets` maps a path to its endpoint's secret; a delivery whose signature
    does not verify is counted in bad_signatures and answered 400."""

    def __init__(self, respond: Callable[[str, int], int | None] = lambda webhook_id, nth: 200) -> None:
        self.respond = respond
        self.secrets: dict[str, str] = {}
        self.requests: list[str] = []
        self.accepted: collections.Counter = collections.Counter()
        self.payloads: dict[str, dict] = {}
        self.arrived: dict[str, float] = {}  # webhook id -> time.perf_counter() of its first acceptance
        self.bad_signatures = 0
        self.hanging = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                webhook_id = self.headers["webhook-id"]
                with receiver._lock:
                    nth = receiver.requests.count(webhook_id)
                    receiver.requests.append(webhook_id)
                status = receiver.respond(webhook_id, nth)
                if status is None:
                    receiver.hanging.set()
                    receiver.release.wait()
                    status = 200
                try:
                    payload = Webhook(receiver.secrets.get(self.path, "")).verify(body, dict(self.headers))
                except Exception:
                    with receiver._lock:
                        receiver.bad_signatures += 1
                    status = 400
                if 200 <= status < 300:
                    with receiver._lock:
                        receiver.accepted[webhook_id] += 1
                        receiver.payloads[webhook_id] = payload
                        receiver.arrived.setdefault(webhook_id, time.perf_counter())
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def arrivals(self) -> list[tuple[dict, float]]:
        """(payload, when it was first accepted) of every webhook id accepted so far."""
        with self._lock:
            return [(self.payloads[webhook_id], at) for webhook_id, at in self.arrived.items()]

    def url(self, path: str = "/hooks") -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
