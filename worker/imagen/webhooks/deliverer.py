"""`imagen webhooks`: sends the webhook outbox (imagen.webhook_deliveries, written by the
transaction that caused each event) to the users' endpoints, signed per Standard Webhooks
(webhook-id, webhook-timestamp, webhook-signature with the endpoint's secret).

A process of its own, not a thread of the worker: it talks to hosts the users chose, which may
be slow, hang or sit behind a firewall the GPU nodes should not open, and one deliverer serves any
number of workers. Each delivery runs on a pool thread with a timeout, and an endpoint has at
most one delivery in flight, so a hanging endpoint holds one thread and delays nobody else's.

At least once: a claim pushes the row's next_attempt_at ahead as a lease (a deliverer that dies
hands it back) and the row is marked delivered only after a 2xx. Every attempt carries the same
webhook-id, so a receiver drops repeats. Failures retry on Standard Webhooks' suggested schedule,
27.6 hours in all, then the row is given up."""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import psycopg
from standardwebhooks import Webhook

log = logging.getLogger(__name__)

# Seconds to wait after failed attempt 1, 2, ... (Standard Webhooks: 5 s, 5 min, 30 min, 2 h,
# 5 h, 10 h, 10 h); after the last, the delivery is given up.
RETRY_SCHEDULE: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
CHANNEL = "imagen_webhooks"

CLAIM = """
update imagen.webhook_deliveries d
set attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => %(lease)s)
from imagen.webhook_endpoints e
where d.id in (
    select f.id from (
      select q.id, q.next_attempt_at,
             row_number() over (partition by q.endpoint_id order by q.next_attempt_at, q.created_at) as nth
      from imagen.webhook_deliveries q
      where q.delivered_at is null and q.given_up_at is null and q.next_attempt_at <= now()
        and q.endpoint_id <> all(%(busy)s::uuid[])
    ) f
    where f.nth = 1
    order by f.next_attempt_at
    limit %(limit)s
  )
  and d.next_attempt_at <= now() and d.delivered_at is null and d.given_up_at is null
  and e.id = d.endpoint_id
returning d.id, d.endpoint_id, d.payload::text, d.attempts, e.url, e.secret
"""


@dataclass(frozen=True)
class Delivery:
    id: str
    endpoint_id: str
    body: str
    attempts: int
    url: str
    secret: str


def signed_headers(delivery: Delivery, now: datetime) -> dict[str, str]:
    signature = Webhook(delivery.secret).sign(delivery.id, now, delivery.body)
    return {
        "content-type": "application/json",
        "user-agent": "imagen-webhooks",
        "webhook-id": delivery.id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


def private_address(url: str) -> str | None:
    """The first loopback, private, link-local or otherwise non-public address the URL's host
    resolves to, or None. Users' endpoints must not reach the deliverer's own network."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return None  # the request itself reports the failure
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            return str(address)
    return None


class Deliverer:
    def __init__(
        self,
        database_url: str,
        *,
        schedule: Sequence[float] = RETRY_SCHEDULE,
        timeout: float = 10.0,
        threads: int = 16,
        poll_interval: float = 5.0,
        allow_private_addresses: bool = False,
    ) -> None:
        self.database_url = database_url
        self.schedule = tuple(schedule)
        self.timeout = timeout
        self.threads = threads
        self.poll_interval = poll_interval
        self.allow_private_addresses = allow_private_addresses
        self._busy: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._local = threading.local()
        self._connections: list[psycopg.Connection] = []
        self._http = httpx.Client(timeout=timeout, follow_redirects=False, limits=httpx.Limits(max_connections=threads))

    def run(self) -> None:
        """Delivers until stop(); deliveries in flight finish (each within the timeout)."""
        listener = threading.Thread(target=self._listen, name="webhooks-listen", daemon=True)
        listener.start()
        with (
            ThreadPoolExecutor(self.threads, thread_name_prefix="webhooks") as pool,
            psycopg.connect(self.database_url, autocommit=True) as conn,
        ):
            while not self._stop.is_set():
                self._wake.clear()
                for delivery in self._claim(conn):
                    pool.submit(self._deliver, delivery)
                self._wake.wait(self._until_next_due(conn))
        listener.join()
        self._http.close()
        for conn in self._connections:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _until_next_due(self, conn: psycopg.Connection) -> float:
        """Seconds to sleep: until the next retry falls due, at most poll_interval (a NOTIFY or a
        finished delivery wakes the loop sooner)."""
        (due,) = conn.execute(
            "select extract(epoch from min(next_attempt_at) - now())::float from imagen.webhook_deliveries"
            " where delivered_at is null and given_up_at is null"
        ).fetchone()
        return self.poll_interval if due is None else min(self.poll_interval, max(due, 0.01))

    def _claim(self, conn: psycopg.Connection) -> list[Delivery]:
        with self._lock:
            free = self.threads - len(self._busy)
            if free <= 0:
                return []
            rows = conn.execute(CLAIM, {"lease": self.timeout + 30, "busy": list(self._busy), "limit": free}).fetchall()
            deliveries = [Delivery(str(r[0]), str(r[1]), r[2], r[3], r[4], r[5]) for r in rows]
            self._busy.update(d.endpoint_id for d in deliveries)
        return deliveries

    def _listen(self) -> None:
        """Wakes the loop on each NOTIFY (an event committed); reconnects after a lost connection."""
        stop = self._stop
        while not stop.is_set():
            try:
                with psycopg.connect(self.database_url, autocommit=True) as conn:
                    conn.execute(f"listen {CHANNEL}")
                    self._wake.set()  # anything committed while not listening
                    while not stop.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            self._wake.set()
            except psycopg.OperationalError as exc:
                if not stop.is_set():
                    log.warning("webhooks: listen connection lost (%s); reconnecting", exc)
                    stop.wait(1.0)

    def _deliver(self, delivery: Delivery) -> None:
        try:
            status, error = self._send(delivery)
            self._record(delivery, status, error)
        except Exception:
            log.exception("webhooks: delivery %s could not be recorded; its lease will return it", delivery.id)
        finally:
            with self._lock:
                self._busy.discard(delivery.endpoint_id)
            self._wake.set()

    def _send(self, delivery: Delivery) -> tuple[int | None, str | None]:
        if not self.allow_private_addresses and (address := private_address(delivery.url)):
            return None, f"refused: the endpoint's host resolves to {address}, not a public address"
        try:
            response = self._http.post(
                delivery.url, content=delivery.body.encode(), headers=signed_headers(delivery, datetime.now(UTC))
            )
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]
        if 200 <= response.status_code < 300:
            return response.status_code, None
        return response.status_code, f"HTTP {response.status_code}"

    def _record(self, delivery: Delivery, status: int | None, error: str | None) -> None:
        conn = self._connection()
        if error is None:
            conn.execute(
                "update imagen.webhook_deliveries set delivered_at = now(), last_status = %s, last_error = null"
                " where id = %s",
                (status, delivery.id),
            )
            log.info("webhooks: %s delivered to endpoint %s", delivery.id, delivery.endpoint_id)
            return
        refused = error.startswith("refused:")
        if refused or delivery.attempts > len(self.schedule):
            conn.execute(
                "update imagen.webhook_deliveries set given_up_at = now(), last_status = %s, last_error = %s"
                " where id = %s",
                (status, error, delivery.id),
            )
            log.warning("webhooks: %s given up after %d attempts: %s", delivery.id, delivery.attempts, error)
            return
        wait = self.schedule[delivery.attempts - 1]
        conn.execute(
            "update imagen.webhook_deliveries set next_attempt_at = now() + make_interval(secs => %s),"
            " last_status = %s, last_error = %s where id = %s",
            (wait, status, error, delivery.id),
        )
        log.info("webhooks: %s attempt %d failed (%s); next in %g s", delivery.id, delivery.attempts, error, wait)

    def _connection(self) -> psycopg.Connection:
        """This pool thread's own connection, opened on first use (and again after a broken one)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = self._local.conn = psycopg.connect(self.database_url, autocommit=True)
            with self._lock:
                self._connections.append(conn)
        return conn
