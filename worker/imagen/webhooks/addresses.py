"""Where a webhook may go: an endpoint's URL checked and its host resolved once, to the address the
delivery then connects to (pinned_http.py), so what was vetted is what is reached.

Users choose the URLs; the deliverer runs inside the operator's network. An endpoint may only
reach globally reachable unicast addresses: every IPv4 block of IANA's special-purpose registry
that is not globally reachable is refused, and multicast and the reserved 240/4; an IPv6 address
must be global unicast (2000::/3) outside the special-purpose blocks, and the IPv6 forms that carry
an IPv4 address (IPv4-mapped, NAT64) are judged by that IPv4 address (IPv4-compatible, 6to4 and
Teredo are refused whole). Numeric hosts are read as the system's resolver reads them (decimal,
hex, octal, short forms: inet_aton), so no notation slips past; a name is resolved once, and if
any of its addresses is not public the endpoint is refused. A lookup that fails delivers nothing.

What the user is told of a refusal is only that: "not a public address" — never what their name
resolved to inside this network."""

from __future__ import annotations

import base64
import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from imagen.errors import ImagenError

NOT_PUBLIC = "refused: not a public address"

_V4_NOT_GLOBAL = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    )
)  # fmt: skip
_V6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_V6_NOT_GLOBAL = tuple(
    ipaddress.IPv6Network(n) for n in ("2001::/23", "2001:db8::/32", "2002::/16", "3fff::/20")
)  # fmt: skip  (Teredo and the other IETF protocol blocks, documentation, 6to4)
_V6_EMBEDDING_V4 = (ipaddress.IPv6Network("::ffff:0:0/96"), ipaddress.IPv6Network("64:ff9b::/96"))

LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
PORT = re.compile(r"^[0-9]{1,5}$")

Resolve = Callable[[str, int], list[str]]


class Refused(ImagenError):
    """The endpoint is not to be reached, now or later: the message is what the user sees."""


class Unresolved(ImagenError):
    """The host's name did not resolve now: nothing is sent, and the delivery is tried again later."""


@dataclass(frozen=True)
class Target:
    scheme: str  # http or https
    host: str  # ASCII, lowercase: the Host header's and TLS's name
    port: int
    target: str  # path and query
    address: str  # the vetted address the connection goes to
    authorization: str | None = None  # Basic credentials from the URL's user info, if any

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == {"http": 80, "https": 443}[self.scheme] else f"{host}:{self.port}"


def is_public(address: str) -> bool:
    """Whether a connection to this address leaves for the public Internet (see the module's text)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.version == 6:
        if any(ip in net for net in _V6_EMBEDDING_V4):
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        else:
            return ip in _V6_GLOBAL_UNICAST and not any(ip in net for net in _V6_NOT_GLOBAL)
    return not any(ip in net for net in _V4_NOT_GLOBAL)


def system_resolve(host: str, port: int) -> list[str]:
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def numeric_address(host: str) -> str | None:
    """The address of a numeric host in any notation the system's resolver accepts, without a lookup."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    return infos[0][4][0]


def parse(url: str) -> tuple[str, str, int, str, str | None]:
    """(scheme, ASCII host, port, path and query, Basic credentials) of a well-formed endpoint URL."""

    def bad(why: str) -> Refused:
        return Refused(f"refused: the endpoint's URL is not valid: {why}")

    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url) or len(url) > 2000:
        raise bad("it has spaces or control characters, or is over 2000 characters")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise bad(str(exc)) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not url.lower().startswith(f"{scheme}://"):
        raise bad("it must start with http:// or https://")
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if "\\" in parts.netloc:
        raise bad("a backslash before the path")
    host, port = split_port(hostport, bad)
    host = check_host(host, bad)
    port = port or {"http": 80, "https": 443}[scheme]
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    credentials = None
    if userinfo:
        name, _, password = userinfo.partition(":")
        credentials = "Basic " + base64.b64encode(f"{unquote(name)}:{unquote(password)}".encode()).decode()
    return scheme, host, port, target, credentials


def split_port(hostport: str, bad: Callable[[str], Refused]) -> tuple[str, int | None]:
    if hostport.startswith("["):
        host, bracket, rest = hostport[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise bad("an IPv6 address must be written [address] or [address]:port")
        host, port = f"[{host}]", rest[1:]
    else:
        host, _, port = hostport.partition(":")
    if not port:
        return host, None
    if not PORT.match(port) or not 1 <= int(port) <= 65535:
        raise bad(f"the port {port!r} is not a number from 1 to 65535")
    return host, int(port)


def check_host(host: str, bad: Callable[[str], Refused]) -> str:
    if host.startswith("["):
        try:
            return str(ipaddress.IPv6Address(host[1:-1]))
        except ValueError:
            raise bad(f"{host} is not an IPv6 address") from None
    try:
        ascii_host = host.encode("idna").decode("ascii").lower() if not host.isascii() else host.lower()
    except UnicodeError:
        raise bad("the host is not a valid international name") from None
    name = ascii_host.removesuffix(".")
    if not name or len(name) > 253:
        raise bad("the host must be 1 to 253 characters")
    for label in name.split("."):
        if not LABEL.match(label):
            raise bad("each part of the host between dots must be 1 to 63 letters, digits, - or _")
    return name


def vet(url: str, resolve: Resolve = system_resolve, allow_private: bool = False) -> Target:
    """The URL's target, pinned to the one address its host resolved to, or Refused (for good) or
    Unresolved (for now)."""
    scheme, host, port, target, credentials = parse(url)
    numeric = numeric_address(host)
    if numeric is not None:
        addresses = [numeric]
    else:
        try:
            addresses = resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise Unresolved(f"the endpoint's host could not be resolved ({type(exc).__name__})") from None
        if not addresses:
            raise Unresolved("the endpoint's host could not be resolved (no address)")
    if not allow_private and not all(is_public(a) for a in addresses):
        raise Refused(NOT_PUBLIC)
    return Target(scheme, host, port, target, addresses[0], credentials)
