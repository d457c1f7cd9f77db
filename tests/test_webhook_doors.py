"""Issue 32's webhook reproductions, each refused: the deliverer connects only to the address it
vetted and fails closed when a lookup fails (1), refuses every non-global form of an address and
ports out of range (2), refuses malformed URLs when they are registered and gives up one stored
before with a clear error instead of looping (3), holds a delivery to one deadline and reads no
answer's body (4), caps endpoints per user and keeps one user's slow endpoints from delaying
another's delivery (5), and tells the user only "refused: not a public address" (6).

No packet leaves loopback: names resolve from a script (tests/loopback_only.py) and a connection
to anything else is refused by the test before it is made."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading

import psycopg
import pytest

from imagen.console.users import as_user
from imagen.webhooks.deliverer import Deliverer, Delivery
from tests import loopback_only
from tests.test_webhooks import delivering, register
from tests.workers import wait_until
from tests.world import claim, complete, create_series


@pytest.fixture
def guard(monkeypatch) -> loopback_only.LoopbackOnly:
    return loopback_only.install(monkeypatch)


def send(url: str, **kw) -> tuple[int | None, str | None]:
    """One delivery to `url`, as a deliverer's pool thread makes it (no database)."""
    deliverer = Deliverer("postgresql://unused", **kw)
    return deliverer._send(Delivery("msg_1", "endpoint", '{"type": "try.done"}', 1, url, "whsec_" + "A" * 32))


class RawServer:
    """A TCP server on 127.0.0.1 that answers each connection with `answer(socket)` and counts the
    bytes it managed to send before the client went away."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.sent = 0
        self.closed = threading.Event()
        self.stop = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            conn, _ = self.sock.accept()
            with conn:
                conn.recv(65536)
                with contextlib.suppress(OSError):
                    self.answer(self, conn)
            self.closed.set()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture
def raw_servers():
    made: list[RawServer] = []
    yield lambda answer: made.append(RawServer(answer)) or made[-1]
    for server in made:
        server.close()


# 1. Check-then-connect


def test_the_connection_goes_to_the_address_that_was_vetted_not_a_second_lookup(guard, receivers):
    receiver = receivers()
    port = receiver.server.server_port
    # A name that answers a public address first and loopback the second time it is asked.
    guard.answers["rebind.test"] = ["93.184.216.34", "127.0.0.1"]
    status, error = send(f"http://rebind.test:{port}/hooks")
    assert receiver.requests == [], "delivered to loopback through a second lookup"
    assert guard.lookups == ["rebind.test"], "one lookup per delivery"
    assert guard.refused == [("93.184.216.34", port)]  # the vetted address, refused by the test itself
    assert status is None and error is not None and not error.startswith("refused:")


def test_a_lookup_that_fails_sends_nothing(guard, receivers):
    receiver = receivers()
    guard.answers["flaky.test"] = [None, "127.0.0.1"]
    status, error = send(f"http://flaky.test:{receiver.server.server_port}/hooks")
    assert receiver.requests == [] and guard.refused == []
    assert (status, error) == (None, "the endpoint's host could not be resolved (gaierror)")


# 2. IPv6 forms of private IPv4, multicast, ports out of range; 6. what the user is told


@pytest.mark.parametrize(
    "url",
    [
        "http://[::7f00:1]:8080/x",  # IPv4-compatible 127.0.0.1
        "http://[::127.0.0.1]:8080/x",
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data",  # NAT64 169.254.169.254
        "http://[2002:7f00:1::]/x",  # 6to4 of 127.0.0.1
        "http://[::ffff:10.0.0.1]/x",  # IPv4-mapped
        "http://224.0.0.1/x",  # multicast
        "http://[ff02::1]/x",
        "http://240.0.0.1/x",  # reserved
        "http://2130706433/x",  # 127.0.0.1 in decimal
        "http://0x7f.1/x",
        "http://127.0.0.1:8080/x",
        "http://[::1]/x",
    ],
)
def test_every_non_global_form_is_refused_before_any_connection(guard, url):
    assert send(url) == (None, "refused: not a public address")
    assert guard.refused == []


def test_a_port_out_of_range_is_refused_not_wrapped(guard):
    status, error = send("http://93.184.216.34:99999/x")
    assert (status, error) == (None, "refused: the endpoint's URL is not valid: the port '99999' is not a number "
                                      "from 1 to 65535")  # fmt: skip
    assert guard.refused == []


def test_the_refusal_does_not_say_what_a_name_resolves_to(guard):
    guard.answers["internal.test"] = ["10.20.30.40"]
    _, error = send("http://internal.test/x")
    assert error == "refused: not a public address"
    assert "10.20.30.40" not in error and guard.refused == []


def test_a_name_with_any_private_address_is_refused(guard):
    guard.answers["mixed.test"] = ["93.184.216.34"]
    deliverer = Deliverer("postgresql://unused", resolve=lambda host, port: ["93.184.216.34", "127.0.0.1"])
    _, error = deliverer._send(Delivery("msg_1", "e", "{}", 1, "http://mixed.test/x", "whsec_" + "A" * 32))
    assert error == "refused: not a public address" and guard.refused == []


# 3. Poison endpoints

POISON = ["http://[::1/", "http://a..b/", f"http://{'a' * 64}.example.com/", "http://example.com:0/",
          "http://evil.example\\@127.0.0.1:3000/"]  # fmt: skip


@pytest.mark.parametrize("url", POISON)
def test_a_malformed_endpoint_url_is_refused_when_registered(conn, user_a, url):
    with pytest.raises(psycopg.errors.InvalidParameterValue, match=r"^url: "):
        register(conn, user_a, url=url)
    assert conn.execute("select count(*) from imagen.webhook_endpoints").fetchone() == (0,)


def test_a_malformed_url_stored_before_is_given_up_at_its_first_delivery(db_url, conn, user_a, caplog):
    # As a row written before the URL was checked at registration.
    conn.execute("alter table imagen.webhook_endpoints disable trigger user")
    try:
        for url in POISON[:3]:
            register(conn, user_a, url=url, events=["try.done"])
    finally:
        conn.execute("alter table imagen.webhook_endpoints enable trigger user")
    create_series(conn, user_a, 1)
    with caplog.at_level(logging.INFO, logger="imagen.webhooks"), delivering(db_url):
        complete(conn, claim(conn))
        wait_until(
            lambda: conn.execute("select bool_and(given_up_at is not null) from imagen.webhook_deliveries").fetchone()[
                0
            ],
            timeout=30,
            what="every delivery to a malformed URL given up",
        )
    rows = conn.execute("select attempts, last_error from imagen.webhook_deliveries").fetchall()
    assert len(rows) == 3 and {attempts for attempts, _ in rows} == {1}
    assert all(error.startswith("refused: the endpoint's URL is not valid: ") for _, error in rows), rows
    assert not [r for r in caplog.records if r.exc_info], "no traceback for a user's bad URL"


# 4. A slow or huge answer


def test_the_answer_s_body_is_never_read(raw_servers):
    size = 64 * 1024 * 1024

    def huge(server: RawServer, conn: socket.socket) -> None:
        conn.sendall(f"HTTP/1.1 200 OK\r\ncontent-length: {size}\r\n\r\n".encode())
        chunk = b"x" * (1024 * 1024)
        while server.sent < size:
            conn.sendall(chunk)
            server.sent += len(chunk)

    server = raw_servers(huge)
    assert send(f"http://127.0.0.1:{server.port}/x", allow_private_addresses=True) == (200, None)
    server.closed.wait(30)
    assert server.sent < 24 * 1024 * 1024, f"{server.sent} bytes of the answer were taken"


def test_an_answer_dripped_a_byte_at_a_time_is_cut_off_at_the_delivery_s_deadline(raw_servers):
    def drip(server: RawServer, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nx-slow: ")
        while not server.stop.wait(0.2):  # one byte every 0.2 s: each read waits far less than the timeout
            conn.sendall(b"a")

    server = raw_servers(drip)
    url = f"http://127.0.0.1:{server.port}/x"
    result: list = []
    thread = threading.Thread(target=lambda: result.append(send(url, allow_private_addresses=True, timeout=1.0)))
    thread.start()
    thread.join(20)  # the deadline is 1 s; a timeout per read would never end
    server.stop.set()
    thread.join(30)
    assert result == [(None, "no answer within 1 s")], "the delivery outlived its deadline"


# 5. One user against everyone


def test_endpoints_per_user_are_capped_by_the_limits(conn, user_a):
    for n in range(10):
        register(conn, user_a, url=f"https://example.com/{n}")
    with pytest.raises(psycopg.Error, match="too many webhook endpoints: you would have 11, the limit is 10") as err:
        register(conn, user_a, url="https://example.com/10")
    assert err.value.sqlstate == "PT429"
    assert conn.execute("select count(*) from imagen.webhook_endpoints").fetchone() == (10,)
    # The operator raises one user's cap in their own row of imagen.limits.
    conn.execute(
        "insert into imagen.limits (owner_id, max_unfinished_tries, max_webhook_endpoints) values (%s, 50, 11)",
        (user_a,),
    )
    register(conn, user_a, url="https://example.com/10")
    with as_user(conn, user_a):
        assert conn.execute("select count(*) from imagen.webhook_endpoints").fetchone() == (11,)


def test_one_user_s_slow_endpoints_do_not_delay_another_user_s_delivery(db_url, conn, user_a, user_b, receivers):
    hangs = receivers(respond=lambda webhook_id, nth: None)
    answers = receivers()
    for n in range(8):
        register(conn, user_a, url=hangs.url(f"/a{n}"), events=["try.done"])
    register(conn, user_b, answers, events=["try.done"])
    create_series(conn, user_a, 1)
    with delivering(db_url, threads=4, timeout=120):
        try:
            complete(conn, claim(conn))
            wait_until(lambda: len(hangs.requests) >= 2, timeout=30, what="user a's endpoints hanging")
            create_series(conn, user_b, 1)
            complete(conn, claim(conn))
            # Well within one delivery's deadline (120 s) while user a's eight still hang.
            wait_until(lambda: len(answers.accepted) == 1, timeout=20, what="user b's delivery")
            assert len(hangs.requests) < 4, "one user held every thread"
        finally:
            hangs.release.set()
