"""One webhook POST to the address that was vetted, under one deadline for all of it.

httpcore makes the request (HTTP/1.1, TLS checked against the endpoint's own name), through a
network backend that connects to the vetted address whatever name the URL carries, so no second
lookup can send it elsewhere; the Host header and TLS's server name stay the endpoint's. Every
connect, read and write waits at most what is left of the delivery's deadline, so an endpoint that
answers one byte at a time is cut off when the deadline passes, not after a timeout per read.
Only the status line and headers are read (httpcore caps them at 100 KiB); the body never is."""

from __future__ import annotations

import ssl
import time
from typing import Any

import httpcore

from imagen.webhooks.addresses import Target


class DeadlinePassed(httpcore.TimeoutException):
    pass


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def wait(self, timeout: float | None) -> float:
        """The longest the next step may wait: its own timeout or what is left, whichever is less."""
        left = self.at - time.monotonic()
        if left <= 0:
            raise DeadlinePassed("the delivery's deadline passed")
        return left if timeout is None else min(timeout, left)


class DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream, deadline: Deadline) -> None:
        self.stream = stream
        self.deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.stream.read(max_bytes, self.deadline.wait(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.stream.write(buffer, self.deadline.wait(timeout))

    def close(self) -> None:
        self.stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        stream = self.stream.start_tls(ssl_context, server_hostname, self.deadline.wait(timeout))
        return DeadlineStream(stream, self.deadline)

    def get_extra_info(self, info: str) -> Any:
        return self.stream.get_extra_info(info)


class PinnedBackend(httpcore.SyncBackend):
    """Connects to `address` whatever host it is asked for."""

    def __init__(self, address: str, deadline: Deadline) -> None:
        self.address = address
        self.deadline = deadline

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, **kw: Any) -> httpcore.NetworkStream:
        stream = super().connect_tcp(self.address, port, self.deadline.wait(timeout), **kw)
        return DeadlineStream(stream, self.deadline)


def post(target: Target, body: bytes, headers: dict[str, str], seconds: float, ssl_context: ssl.SSLContext) -> int:
    """The status the endpoint answered, within `seconds` from now; httpcore's errors otherwise."""
    deadline = Deadline(seconds)
    sent = {"host": target.host_header, **headers, "content-length": str(len(body))}
    if target.authorization:
        sent["authorization"] = target.authorization
    url = httpcore.URL(scheme=target.scheme, host=target.host, port=target.port, target=target.target)
    backend = PinnedBackend(target.address, deadline)
    timeouts = dict.fromkeys(("connect", "read", "write", "pool"), seconds)
    with (
        httpcore.ConnectionPool(ssl_context=ssl_context, network_backend=backend, max_connections=1) as pool,
        pool.stream("POST", url, headers=list(sent.items()), content=body, extensions={"timeout": timeouts}) as answer,
    ):
        return answer.status
