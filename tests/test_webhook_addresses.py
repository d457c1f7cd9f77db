"""Issue 32: the webhook URL vetting, property-tested over generated addresses written in every
notation — dotted, decimal, hex, octal, the short forms, IPv6 with embedded IPv4 (mapped,
compatible, NAT64, 6to4), user info, IDNA (full-width digits and dots) — against IANA's
special-purpose registries written out here on their own: every address not globally reachable
is refused, every globally reachable one accepted. Numeric hosts need no lookup: the resolver
given to vet() fails the test if it is asked, so no test here sends a packet anywhere."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from imagen.webhooks.addresses import NOT_PUBLIC, Refused, vet

# IANA IPv4 Special-Purpose Address Registry, the blocks not globally reachable, and multicast and
# the reserved 240/4. 192.0.0.0/24 and 192.88.99.0/24 (anycast service blocks, the latter
# deprecated) are refused whole: no webhook receiver lives there.
V4_NOT_GLOBAL = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
)]  # fmt: skip
# IPv6: only global unicast (2000::/3) outside its special-purpose blocks.
V6_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
V6_NOT_GLOBAL = [ipaddress.ip_network(n) for n in ("2001::/23", "2001:db8::/32", "2002::/16", "3fff::/20")]


def v4_global(ip: ipaddress.IPv4Address) -> bool:
    return not any(ip in net for net in V4_NOT_GLOBAL)


def refuses(url: str) -> bool:
    def no_lookup(host: str, port: int) -> list[str]:
        raise AssertionError(f"a numeric host was looked up: {host}")

    try:
        vet(url, resolve=no_lookup)
    except Refused as exc:
        assert str(exc) == NOT_PUBLIC, exc
        return True
    return False


special_v4 = st.sampled_from(V4_NOT_GLOBAL).flatmap(
    lambda net: st.integers(int(net.network_address), int(net.broadcast_address)).map(ipaddress.IPv4Address)
)
any_v4 = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
ipv4s = st.one_of(special_v4, any_v4, st.sampled_from([ipaddress.IPv4Address(a) for a in (
    "127.0.0.1", "169.254.169.254", "224.0.0.1", "255.255.255.255", "0.0.0.0", "93.184.216.34", "8.8.8.8",
    "100.63.255.255", "100.128.0.0", "172.15.255.255", "172.32.0.0", "192.0.1.255",
)]))  # fmt: skip


FULL_WIDTH = {ord(c): 0xFF10 + int(c) for c in "0123456789"} | {ord("."): 0x3002}


def v4_notations(ip: ipaddress.IPv4Address) -> list[str]:
    """The host part of a URL, in the notations a resolver (inet_aton) reads as this address."""
    n, (a, b, c, d) = int(ip), ip.packed
    return [
        str(ip),
        str(n),
        hex(n),
        "0" + oct(n)[2:] if n else "0",
        ".".join("0" + oct(x)[2:] if x else "0" for x in (a, b, c, d)),
        ".".join(hex(x) for x in (a, b, c, d)),
        f"{a}.{(b << 16) | (c << 8) | d}",
        f"{a}.{b}.{(c << 8) | d}",
        f"{hex(a)}.{b}.{(c << 8) | d}",
        str(ip).translate(FULL_WIDTH),  # IDNA maps full-width digits and the ideographic full stop back
        f"[::ffff:{ip}]",
        f"[64:ff9b::{ip}]",
    ]


@settings(max_examples=300, deadline=None)
@given(ipv4s, st.sampled_from(range(12)), st.sampled_from(["", "user@", "user:pw@", "example.com@", "127.0.0.1@"]))
@example(ipaddress.IPv4Address("127.0.0.1"), 1, "")
@example(ipaddress.IPv4Address("169.254.169.254"), 11, "")
def test_every_notation_of_an_ipv4_address_is_judged_by_the_address(ip, notation, userinfo):
    host = v4_notations(ip)[notation]
    assert refuses(f"http://{userinfo}{host}:8080/hooks") is not v4_global(ip), host


@settings(max_examples=100, deadline=None)
@given(ipv4s)
def test_ipv6_forms_that_do_not_carry_ipv4_to_its_owner_are_refused_whole(ip):
    n = int(ip)
    for form in (f"[::{ip}]", f"[::{n >> 16:x}:{n & 0xFFFF:x}]", f"[2002:{n >> 16:x}:{n & 0xFFFF:x}::1]"):
        assert refuses(f"https://{form}/"), form  # IPv4-compatible (deprecated) and 6to4


special_v6 = st.sampled_from([*V6_NOT_GLOBAL, *(ipaddress.ip_network(n) for n in (
    "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "100::/64", "64:ff9b:1::/48", "4000::/2",
))]).flatmap(
    lambda net: st.integers(int(net.network_address), int(net.broadcast_address)).map(ipaddress.IPv6Address)
)  # fmt: skip
any_v6 = st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address)


@settings(max_examples=300, deadline=None)
@given(st.one_of(special_v6, any_v6, st.integers(0x2000 << 112, (0x4000 << 112) - 1).map(ipaddress.IPv6Address)))
def test_an_ipv6_address_is_accepted_only_if_global_unicast(ip):
    if ip.ipv4_mapped is not None:
        expected_public = v4_global(ip.ipv4_mapped)
    elif ip in ipaddress.ip_network("64:ff9b::/96"):
        expected_public = v4_global(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    else:
        expected_public = ip in V6_GLOBAL_UNICAST and not any(ip in net for net in V6_NOT_GLOBAL)
    assert refuses(f"http://[{ip}]/") is not expected_public, ip


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://[::1/", "Invalid IPv6 URL"),
        ("http://a..b/", "each part of the host"),
        (f"http://{'a' * 64}.example.com/", "each part of the host"),
        ("http://93.184.216.34:99999/", "the port '99999' is not a number from 1 to 65535"),
        ("http://93.184.216.34:0/", "the port '0'"),
        ("http://evil.example\\@127.0.0.1:3000/", "a backslash before the path"),
        ("http://exa mple.com/", "spaces or control characters"),
        ("gopher://example.com/", "it must start with http:// or https://"),
    ],
)
def test_a_malformed_url_is_refused_with_its_reason(url, why):
    with pytest.raises(Refused, match=r"^refused: the endpoint's URL is not valid: ") as refused:
        vet(url, resolve=lambda host, port: ["93.184.216.34"])
    assert why in str(refused.value)


def test_a_name_is_resolved_once_and_pinned_with_the_host_kept_for_tls():
    asked = []
    target = vet(
        "https://u:p@Hooks.Example.com:8443/in?x=1", resolve=lambda h, p: asked.append((h, p)) or ["93.184.216.34"]
    )
    assert asked == [("hooks.example.com", 8443)]
    assert (target.host, target.address, target.port, target.target) == (
        "hooks.example.com",
        "93.184.216.34",
        8443,
        "/in?x=1",
    )
    assert target.host_header == "hooks.example.com:8443" and target.authorization == "Basic dTpw"
