"""Issue 32 (9): the worker's status port holds no thread per idle connection: half-sent requests
are closed after the read timeout, and past the bound a new connection is closed at once (200
half-sent requests took the worker from 11 to 211 threads)."""

from __future__ import annotations

import contextlib
import socket
import threading

import httpx

from imagen.monitoring.metrics import WorkerMetrics
from imagen.monitoring.status_server import MAX_CONNECTIONS, StatusServer
from tests.workers import wait_until


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def half_sent(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: worker\r\n")  # never the blank line that ends it
    return sock


def test_two_hundred_half_sent_requests_hold_a_bounded_number_of_threads():
    with StatusServer(WorkerMetrics(worker_id="w", model="m"), port=0, read_timeout=60) as server:
        before = threading.active_count()
        with contextlib.ExitStack() as stack:
            socks = [stack.enter_context(half_sent(server.port)) for _ in range(200)]
            # Every connection taken by the server: served by a thread of its own, or closed.
            wait_until(
                lambda: sum(map(closed_by_server, socks)) + threading.active_count() - before >= 200,
                timeout=30,
                what="the server to take all 200 connections",
            )
            assert threading.active_count() - before <= MAX_CONNECTIONS


def test_a_half_sent_request_is_closed_after_the_read_timeout_and_probes_answer_again():
    with StatusServer(WorkerMetrics(worker_id="w", model="m"), port=0, read_timeout=0.5) as server:
        with contextlib.ExitStack() as stack:
            socks = [stack.enter_context(half_sent(server.port)) for _ in range(MAX_CONNECTIONS + 5)]
            wait_until(lambda: all(map(closed_by_server, socks)), timeout=30, what="every idle connection closed")
        response = httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=10)
        assert response.status_code in (200, 503) and "ok" in response.json()
