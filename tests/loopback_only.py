"""A guard for the webhook tests: no packet leaves this machine's loopback. Names ending in .test
resolve from a script (one answer per lookup, the last repeating; None: the lookup fails), never
through DNS; a connection to anything but loopback is recorded and refused before a packet is
sent. Both are patched where every HTTP client reaches them: socket.getaddrinfo and
socket.create_connection."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field

REAL_GETADDRINFO = socket.getaddrinfo
REAL_CREATE_CONNECTION = socket.create_connection


@dataclass
class LoopbackOnly:
    answers: dict[str, list[str | None]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)
    refused: list[tuple[str, int]] = field(default_factory=list)  # connections that would have left

    def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):
        if isinstance(host, str) and host.endswith(".test"):
            if flags & socket.AI_NUMERICHOST:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            self.lookups.append(host)
            script = self.answers[host]
            address = script.pop(0) if len(script) > 1 else script[0]
            if address is None:
                raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
            if ":" in address:
                return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port or 0, 0, 0))]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 0))]
        if isinstance(host, str) and "." in host and not host.startswith("/") and not _numeric(host):
            raise AssertionError(f"a test looked up {host!r} outside the script: that would be a DNS query")
        return REAL_GETADDRINFO(host, port, family, type, proto, flags)

    def create_connection(self, address, *args, **kw):
        host, port = address[0], address[1]
        for info in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
            if not ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback:
                self.refused.append((info[4][0], port))
                raise ConnectionRefusedError(111, "refused by the test: not loopback")
        return REAL_CREATE_CONNECTION(address, *args, **kw)


def _numeric(host: str) -> bool:
    try:
        REAL_GETADDRINFO(host, None, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError):
        return False
    return True


def install(monkeypatch) -> LoopbackOnly:
    guard = LoopbackOnly()
    monkeypatch.setattr(socket, "getaddrinfo", guard.getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", guard.create_connection)
    return guard
