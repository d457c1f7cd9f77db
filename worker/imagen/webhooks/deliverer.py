"""`imagen webhooks`: sends the webhook outbox (imagen.webhook_deliveries, written by the
transaction that caused each event) to the users' endpoints, signed per Standard Webhooks
(webhook-id, webhook-timestamp, webhook-signature with the endpoint's secret).

A process of its own, not a thread of the worker: it talks to hosts the users chose, which may
be slow, hang or sit behind a firewall the GPU nodes should not open, and one deliverer serves any
number of workers. Each delivery runs on a pool thread with a timeout, and an endpoint has at
most one delivery in flight, so a hanging endpoint holds one thread and delays nobody else's.

Where it goes (addresses.py, pinned_http.py): the URL is checked and its host resolved once; the
connection goes to that address and no other, only if it is public, within one deadline for the
whole delivery, and reads the answer's status and headers only. A malformed URL or a private
address is given up at once, with the reason as the row's last_error.

Fair between users: a claim hands out each user's first due delivery before anyone's second
(counting what each has in flight), and one user holds at most half the threads, so one user's
slow endpoints delay another user's delivery by at most one delivery's deadline.

At least once: a claim pushes the row's next_attempt_at ahead as a lease (a deliverer that dies
hands it back) and the row is marked delivered only after a 2xx. Every attempt carries the same
webhook-id, so a receiver drops repeats. Failures retry on Standard Webhooks' suggested schedule,
27.6 hours in all, then the row is given up."""

from __future__ import annotations

import collections
import logging
import ssl
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import httpcore
import psycopg
from standardwebhooks import Webhook

from imagen.webhooks import pinned_http
from imagen.webhooks.addresses import Refused, Resolve, Unresolved, system_resolve, vet

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
    select t.id from (
      select f.id, f.next_attempt_at,
             row_number() over (partition by f.owner_id order by f.next_attempt_at)
               + coalesce((select b.n from unnest(%(owners)s::uuid[], %(in_flight)s::int[]) b(owner_id, n)
                           where b.owner_id = f.owner_id), 0) as turn
      from (
        select q.id, q.owner_id, q.next_attempt_at,
               row_number() over (partition by q.endpoint_id order by q.next_attempt_at, q.created_at) as nth
        from imagen.webhook_deliveries q
        where q.delivered_at is null and q.given_up_at is null and q.next_attempt_at <= now()
          and q.endpoint_id <> all(%(busy)s::uuid[])
      ) f
      where f.nth = 1
    ) t
    where t.turn <= %(per_owner)s
    order by t.turn, t.next_attempt_at
    limit %(limit)s
  )
  and d.next_attempt_at <= now() and d.delivered_at is null and d.given_up_at is null
  and e.id = d.endpoint_id
returning d.id, d.endpoint_id, d.payload::text, d.attempts, e.url, e.secret, d.owner_id
"""


@dataclass(frozen=True)
class Delivery:
    id: str
    endpoint_id: str
    body: str
    attempts: int
    url: str
    secret: str
    owner_id: str = ""


def signed_headers(delivery: Delivery, now: datetime) -> dict[str, str]:
    signature = Webhook(delivery.secret).sign(delivery.id, now, delivery.body)
    return {
        "content-type": "application/json",
        "user-agent": "imagen-webhooks",
        "webhook-id": delivery.id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


def record(
    conn: psycopg.Connection, delivery: Delivery, status: int | None, error: str | None, schedule: tuple[float, ...]
) -> None:
    """Writes an attempt's outcome: delivered, given up (refused for good, or out of retries), or
    due again after the schedule's wait."""
    if error is None:
        conn.execute(
            "update imagen.webhook_deliveries set delivered_at = now(), last_status = %s, last_error = null"
            " where id = %s",
            (status, delivery.id),
        )
        log.info("webhooks: %s delivered to endpoint %s", delivery.id, delivery.endpoint_id)
        return
    refused = error.startswith("refused:")
    if refused or delivery.attempts > len(schedule):
        conn.execute(
            "update imagen.webhook_deliveries set given_up_at = now(), last_status = %s, last_error = %s where id = %s",
            (status, error, delivery.id),
        )
        log.warning("webhooks: %s given up after %d attempts: %s", delivery.id, delivery.attempts, error)
        return
    wait = schedule[delivery.attempts - 1]
    conn.execute(
        "update imagen.webhook_deliveries set next_attempt_at = now() + make_interval(secs => %s),"
        " last_status = %s, last_error = %s where id = %s",
        (wait, status, error, delivery.id),
    )
    log.info("webhooks: %s attempt %d failed (%s); next in %g s", delivery.id, delivery.attempts, error, wait)


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
        per_owner: int | None = None,
        resolve: Resolve = system_resolve,
    ) -> None:
        self.database_url = database_url
        self.schedule = tuple(schedule)
        self.timeout = timeout
        self.threads = threads
        self.poll_interval = poll_interval
        self.allow_private_addresses = allow_private_addresses
        self.per_owner = per_owner or max(1, threads // 2)  # what one user's deliveries may hold at once
        self.resolve = resolve
        self._busy: set[str] = set()
        self._in_flight: collections.Counter[str] = collections.Counter()  # owner -> deliveries in flight
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._local = threading.local()
        self._connections: list[psycopg.Connection] = []
        self._tls = ssl.create_default_context()

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
            owners = list(self._in_flight)
            params = {"lease": self.timeout + 30, "busy": list(self._busy), "limit": free, "owners": owners,
                      "in_flight": [self._in_flight[o] for o in owners], "per_owner": self.per_owner}  # fmt: skip
            rows = conn.execute(CLAIM, params).fetchall()
            deliveries = [Delivery(str(r[0]), str(r[1]), r[2], r[3], r[4], r[5], str(r[6])) for r in rows]
            self._busy.update(d.endpoint_id for d in deliveries)
            self._in_flight.update(d.owner_id for d in deliveries)
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
            record(self._connection(), delivery, status, error, self.schedule)
        except Exception:
            log.exception("webhooks: delivery %s could not be recorded; its lease will return it", delivery.id)
        finally:
            with self._lock:
                self._busy.discard(delivery.endpoint_id)
                self._in_flight[delivery.owner_id] -= 1
                if self._in_flight[delivery.owner_id] <= 0:
                    del self._in_flight[delivery.owner_id]
            self._wake.set()

    def _send(self, delivery: Delivery) -> tuple[int | None, str | None]:
        """(status, None) when the endpoint took it; (status or None, what went wrong) otherwise.
        An error that starts with "refused:" is for good: the delivery is given up."""
        try:
            target = vet(delivery.url, self.resolve, self.allow_private_addresses)
            headers = signed_headers(delivery, datetime.now(UTC))
            status = pinned_http.post(target, delivery.body.encode(), headers, self.timeout, self._tls)
        except (Refused, Unresolved) as exc:
            return None, str(exc)
        except httpcore.TimeoutException:
            return None, f"no answer within {self.timeout:g} s"
        except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]
        except Exception as exc:  # whatever it was, the delivery fails and its retries run out
            log.exception("webhooks: delivery %s failed", delivery.id)
            return None, f"delivery failed: {type(exc).__name__}"
        if 200 <= status < 300:
            return status, None
        return status, f"HTTP {status}"

    def _connection(self) -> psycopg.Connection:
        """This pool thread's own connection, opened on first use (and again after a broken one)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = self._local.conn = psycopg.connect(self.database_url, autocommit=True)
            with self._lock:
                self._connections.append(conn)
        return conn
