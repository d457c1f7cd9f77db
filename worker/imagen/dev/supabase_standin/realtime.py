"""Realtime stand-in: Phoenix channels (JSON serializer, vsn 1.0.0) at /realtime/v1/websocket,
postgres_changes driven by the real database's WAL through a wal2json logical slot.

Broadcast as the real server does it (realtime_channel.ex, tenants/authorization.ex,
broadcast_handler.ex, batch_broadcast.ex): a private channel (config.private) is authorized at
join by reading a just-inserted realtime.messages row (extension 'broadcast') as the token's role,
with request.jwt.claims and realtime.topic set, then rolled back; refused → phx_reply error
"Unauthorized: You do not have permissions to read from this Channel topic: <topic>", answered
only after 5 s (join_refusal_seconds) while the socket's other channels wait, as every refused
join is; a refused token at connect is answered after 2 s. A client's
broadcast on a private channel needs the write policy (an INSERT into realtime.messages under RLS,
rolled back), checked once per channel. Private and public channels of the same name are separate
topics. POST /realtime/v1/api/broadcast fans {"messages": [...]} out and answers 202. Every socket
counts the broadcasts delivered to it (Socket.delivered).

Broadcast from the database as tenants/replication_connection.ex does it: the publication
supabase_realtime_messages_publication on realtime.messages (made at start when missing), and each
row inserted there (realtime.send, realtime.broadcast_changes) broadcast by BatchBroadcast as the
platform (no write policy) to its topic, public or private as the row says, meta.id the row's id.
Differs: the stand-in's one wal2json slot reads these rows with everything else (upstream: a
temporary pgoutput slot of its own, streamed, with a watchdog); rows are read every 0.1 s.

The project's limits (realtime_limits.py, the Free plan's by default): messages a second counted as
upstream counts them (one per message sent, one more per channel it reaches) with 429 on the HTTP
API and "Too many messages per second" shutting a receiving channel; the payload cap (422); the
private-only setting. Channel life as realtime_channel.ex: a joined channel's token is checked
again every confirm_token_seconds and when it expires ("Token has expired N seconds ago"); an
`access_token` message re-checks the token and re-runs the read policy of a private channel. A
channel shut down gets a `system` error message, then phx_close.

Faults for tests: an outage (sockets closed, new ones refused), dropped sockets, a delayed
subscription (joined, but not yet listening), and silent sockets (no replies, no pongs)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import psycopg
from aiohttp import WSMsgType, web

from imagen.dev.supabase_standin.keys import GatewayRefusal, InvalidToken, forwarded_token
from imagen.dev.supabase_standin.realtime_limits import RateCounter, RealtimeLimits

log = logging.getLogger(__name__)
POLL_INTERVAL_S = 0.1  # lib/extensions/postgres_cdc_rls/replication_poller.ex, poll_interval_ms
MESSAGES_PUBLICATION = "supabase_realtime_messages_publication"  # ReplicationConnection.publication_name
_binding_ids = itertools.count(7001)  # non-zero, as the client requires


@dataclass
class Binding:
    id: int
    event: str
    schema: str
    table: str | None
    filter: str | None

    def matches(self, change: dict) -> bool:
        if self.schema != change["schema"] or (self.table and self.table != change["table"]):
            return False
        if self.event not in ("*", change["type"]):
            return False
        if self.filter:
            column, _, expr = self.filter.partition("=")
            op, _, value = expr.partition(".")
            # A DELETE is matched on its old record (walrus: is_visible_through_filters(old_columns)).
            row = change.get("record") or change.get("old_record") or {}
            return op == "eq" and str(row.get(column)) == value
        return True

    def reply(self) -> dict:
        out = {"id": self.id, "event": self.event, "schema": self.schema}
        if self.table:
            out["table"] = self.table
        if self.filter:
            out["filter"] = self.filter
        return out


@dataclass
class Channel:
    topic: str
    claims: dict
    bindings: list[Binding]
    listening_at: float  # events before this instant are not delivered (delayed subscription)
    private: bool = False
    self_broadcast: bool = False
    ack_broadcast: bool = False
    can_write: bool | None = None  # the broadcast write policy, checked on the first send
    token: str = ""  # the JWT its claims came from: access_token messages replace it
    join_ref: str | None = None
    confirm: asyncio.TimerHandle | None = None  # the next check of the token (confirm_token)


_socket_ids = itertools.count(1)
NO_READ = "You do not have permissions to read from this Channel topic: {}"
UNAUTHORIZED_READ = "Unauthorized: " + NO_READ
PRIVATE_ONLY = "PrivateOnly: This project only allows private channels"
TOO_MANY_MESSAGES = "Too many messages per second"


@dataclass(eq=False)  # identity hash: sockets live in a set
class Socket:
    ws: web.WebSocketResponse
    claims: dict
    token: str
    channels: dict[str, Channel] = field(default_factory=dict)
    silent: bool = False
    reader: asyncio.Task | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    id: int = field(default_factory=lambda: next(_socket_ids))
    delivered: int = 0  # broadcast messages sent to this socket

    async def send(self, event: str, topic: str, payload: dict, ref: str | None = None) -> bool:
        if self.silent or self.ws.closed:
            return False
        async with self.lock:
            try:
                await self.ws.send_str(json.dumps({"event": event, "topic": topic, "payload": payload, "ref": ref}))
            except (ConnectionError, RuntimeError):
                return False
        return True


class Realtime:
    def __init__(self, db_url: str, keys, limits: RealtimeLimits | None = None) -> None:
        self.db_url = db_url
        self.keys = keys
        self.limits = limits or RealtimeLimits()
        self.events = RateCounter(self.limits)  # broadcasts: enforced
        self.db_events = RateCounter(self.limits)  # postgres_changes: counted only
        self.sockets: set[Socket] = set()
        self.shutdowns: list[tuple[str, str]] = []  # (topic, reason) of every channel shut down
        self.joins: list[str] = []  # the topic of every channel joined, in order
        self.from_db = 0  # messages broadcast from realtime.messages rows (Broadcast from the database)
        self.outage_until = 0.0
        self.subscription_delay = 0.0
        self.slot = f"imagen_standin_{id(self)}"
        self._poller: asyncio.Task | None = None
        self._poll_conn: psycopg.AsyncConnection | None = None

    # -- faults ------------------------------------------------------------------------

    async def outage(self, seconds: float) -> None:
        self.outage_until = time.monotonic() + seconds
        await self.drop_sockets()

    async def drop_sockets(self) -> None:
        for sock in list(self.sockets):
            self.sockets.discard(sock)
            await sock.ws.close(code=1011, message=b"stand-in: dropped")

    async def shut_down_all(self, message: str) -> None:
        for sock in list(self.sockets):
            for chan in list(sock.channels.values()):
                await self.shutdown(sock, chan, message)

    def silence_sockets(self) -> None:
        for sock in self.sockets:
            sock.silent = True
            if sock.reader is not None:
                sock.reader.cancel()

    # -- lifecycle ---------------------------------------------------------------------

    async def _connect(self) -> psycopg.AsyncConnection:
        return await psycopg.AsyncConnection.connect(self.db_url, autocommit=True)

    async def start(self) -> None:
        # db_url is the platform superuser's (as the real Realtime's): ALTER SYSTEM needs one.
        async with await self._connect() as conn:
            # Some hardened Postgres builds (this machine's among them) only let listed output
            # plugins decode; the list is server-wide and read on reload. Elsewhere it does not exist.
            # Set once per server: later stand-ins on the same server find it done.
            if await self._plugins_missing(conn):
                await conn.execute("alter system set output_plugin_libraries = pgoutput, test_decoding, wal2json")
                await conn.execute("select pg_reload_conf()")
                for _ in range(200):  # until a new session sees the reloaded setting
                    async with await self._connect() as fresh:
                        if not await self._plugins_missing(fresh):
                            break
        async with await self._connect() as conn:
            # ReplicationConnection (Broadcast from the database) streams this publication of
            # realtime.messages, made when missing; the stand-in's one slot reads it with the rest.
            found = await conn.execute("select 1 from pg_publication where pubname = %s", (MESSAGES_PUBLICATION,))
            if await found.fetchone() is None and await self._has_messages(conn):
                await conn.execute(f"create publication {MESSAGES_PUBLICATION} for table realtime.messages")
            await conn.execute("select pg_create_logical_replication_slot(%s, 'wal2json')", (self.slot,))
        self._poller = asyncio.create_task(self._poll_wal())

    @staticmethod
    async def _has_messages(conn: psycopg.AsyncConnection) -> bool:
        return await (await conn.execute("select to_regclass('realtime.messages') is not null")).fetchone() == (True,)

    @staticmethod
    async def _plugins_missing(conn: psycopg.AsyncConnection) -> bool:
        cur = await conn.execute("select setting from pg_settings where name = 'output_plugin_libraries'")
        row = await cur.fetchone()
        return row is not None and "wal2json" not in row[0]

    async def stop(self) -> None:
        if self._poller:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        await self.drop_sockets()
        try:
            async with await psycopg.AsyncConnection.connect(self.db_url, autocommit=True) as conn:
                await conn.execute(
                    "select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = %s",
                    (self.slot,),
                )
        except psycopg.OperationalError as exc:  # the database went first: its slot went with it
            log.warning("realtime stand-in: replication slot not dropped: %s", str(exc).strip().splitlines()[0])

    # -- WAL → postgres_changes --------------------------------------------------------

    async def _poll_wal(self) -> None:
        conn = None
        try:
            await self._poll_forever(conn)
        finally:
            if self._poll_conn is not None:
                await self._poll_conn.close()

    async def _poll_forever(self, conn) -> None:
        while True:
            try:
                if conn is None or conn.closed:
                    conn = self._poll_conn = await self._connect()
                cur = await conn.execute(
                    "select data from pg_logical_slot_get_changes(%s, null, null, 'format-version', '2',"
                    " 'include-timestamp', '1', 'include-types', '1', 'actions', 'insert,update,delete')",
                    (self.slot,),
                )
                commit_ts = None
                rows = await cur.fetchall()
                for (data,) in rows:
                    change = json.loads(data)
                    if change["action"] == "B":
                        commit_ts = change.get("timestamp")
                    elif is_message_insert(change):
                        await self.from_database(to_change(change, commit_ts)["record"])
                    elif change["action"] in ("I", "U", "D"):
                        await self._publish(to_change(change, commit_ts))
            except psycopg.OperationalError:
                conn, rows = None, []
            # As Realtime's ReplicationPoller: straight on while changes come, else the tenant's
            # poll_interval_ms (100 by default).
            if not rows:
                await asyncio.sleep(POLL_INTERVAL_S)

    async def _publish(self, change: dict) -> None:
        """As walrus (realtime.list_changes + apply_rls) does: only what supabase_realtime publishes;
        per subscriber, only the columns its role may select; INSERT/UPDATE only when RLS lets the
        subscriber select the row; DELETE to every subscriber of the table (RLS cannot judge a
        deleted row), its old_record cut to the primary key when the table has RLS."""
        if not await self._published(change):
            return
        now = time.monotonic()
        for sock in list(self.sockets):
            for chan in list(sock.channels.values()):
                ids = [b.id for b in chan.bindings if b.matches(change)]
                if not ids or now < chan.listening_at:
                    continue
                seen = await self._as_seen_by(chan.claims, change)
                if seen is not None and await sock.send("postgres_changes", chan.topic, {"ids": ids, "data": seen}):
                    self.db_events.add()

    async def _catalog(self, sql: str, params: tuple = ()) -> list[tuple]:
        async with await psycopg.AsyncConnection.connect(self.db_url, autocommit=True) as conn:
            return await (await conn.execute(sql, params)).fetchall()

    async def _published(self, change: dict) -> bool:
        action = {"INSERT": "pubinsert", "UPDATE": "pubupdate", "DELETE": "pubdelete"}[change["type"]]
        rows = await self._catalog(
            f"select 1 from pg_publication p join pg_publication_tables t using (pubname)"
            f" where p.pubname = 'supabase_realtime' and p.{action} and t.schemaname = %s and t.tablename = %s",
            (change["schema"], change["table"]),
        )
        return bool(rows)

    async def _as_seen_by(self, claims: dict, change: dict) -> dict | None:
        role = claims.get("role") or "anon"
        table = f'"{change["schema"]}"."{change["table"]}"'
        rows = await self._catalog(
            "select a.attname, has_column_privilege(%s, c.oid, a.attname, 'SELECT'),"
            " a.attnum = any(coalesce(i.indkey::int2[], '{}')), c.relrowsecurity"
            " from pg_class c join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped"
            " left join pg_index i on i.indrelid = c.oid and i.indisprimary where c.oid = %s::regclass",
            (role, table),
        )
        selectable = {name for name, can, _, _ in rows if can}
        primary_key = {name for name, _, pk, _ in rows if pk}
        rls = bool(rows) and rows[0][3]
        seen = {**change, "columns": [c for c in change["columns"] if c["name"] in selectable]}
        if change["type"] == "DELETE":
            keep = selectable & primary_key if rls else selectable
            seen["old_record"] = {k: v for k, v in change["old_record"].items() if k in keep}
            return seen
        if not primary_key <= selectable:  # walrus answers "Error 401: Unauthorized"
            return None
        seen["record"] = {k: v for k, v in change["record"].items() if k in selectable}
        if "old_record" in change:
            seen["old_record"] = {k: v for k, v in change["old_record"].items() if k in selectable}
        if rls and not await self._rls_allows(claims, role, table, change["record"]):
            return None
        return seen

    async def _rls_allows(self, claims: dict, role: str, table: str, record: dict) -> bool:
        async with await psycopg.AsyncConnection.connect(self.db_url, autocommit=True) as conn, conn.transaction():
            await conn.execute(
                "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
                (role, json.dumps(claims)),
            )
            try:
                found = await conn.execute(f"select 1 from {table} where id = %s", (record.get("id"),))
                return await found.fetchone() is not None
            except psycopg.Error:
                return False

    # -- the socket ----------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if time.monotonic() < self.outage_until:
            return web.Response(status=503, text="stand-in: outage")
        # The gateway swaps an opaque key for its role's JWT (the CLI's Kong config, LUA_RT_WS_EXPR).
        token = self.keys.gateway_token(request.query.get("apikey", "")) or ""
        try:
            claims = self.keys.verify(token)
        except InvalidToken as exc:
            await asyncio.sleep(self.limits.connect_refusal_seconds)
            return web.Response(status=403, text=f"invalid apikey: {exc}")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        sock = Socket(ws, claims, token)
        self.sockets.add(sock)
        # Reading also answers pings; silencing cancels this task so that it stops reading.
        sock.reader = asyncio.current_task()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_message(sock, json.loads(msg.data))
        except asyncio.CancelledError:
            if not sock.silent:
                raise
            while not ws.closed and sock in self.sockets:
                await asyncio.sleep(0.1)  # open but deaf: no replies, no pongs
        finally:
            self.sockets.discard(sock)
        return ws

    async def _on_message(self, sock: Socket, msg: dict) -> None:
        event, topic, ref, payload = msg.get("event"), msg.get("topic"), msg.get("ref"), msg.get("payload") or {}
        if topic == "phoenix" and event == "heartbeat":
            await sock.send("phx_reply", "phoenix", {"status": "ok", "response": {}}, ref)
        elif event == "phx_join":
            await self._join(sock, topic, ref, payload)
        elif event == "phx_leave":
            if (chan := sock.channels.pop(topic, None)) is not None and chan.confirm is not None:
                chan.confirm.cancel()
            await sock.send("phx_reply", topic, {"status": "ok", "response": {}}, ref)
            await sock.send("phx_close", topic, {}, ref)
        elif event == "broadcast" and topic in sock.channels:
            await self._client_broadcast(sock, sock.channels[topic], ref, payload)
        elif event == "access_token" and topic in sock.channels:
            await self._access_token(sock, sock.channels[topic], payload.get("access_token"))

    async def _join(self, sock: Socket, topic: str, ref: str | None, payload: dict) -> None:
        claims, token = sock.claims, sock.token
        # An API key ("sb_...") as the join's token is no user's: the socket's token stands.
        if payload.get("access_token") and not str(payload["access_token"]).startswith("sb_"):
            token = payload["access_token"]
            try:
                claims = self.keys.verify(token)
            except InvalidToken as exc:
                await self._refuse(sock, topic, ref, str(exc))
                return
        config = payload.get("config") or {}
        private = bool(config.get("private"))
        sub_topic = topic.removeprefix("realtime:")
        if self.limits.private_only and not private:
            await self._refuse(sock, topic, ref, PRIVATE_ONLY)
            return
        if private and not await self.can_read(claims, sub_topic):
            await self._refuse(sock, topic, ref, UNAUTHORIZED_READ.format(sub_topic))
            return
        bindings = [
            Binding(next(_binding_ids), b.get("event", "*"), b.get("schema", "public"), b.get("table"), b.get("filter"))
            for b in config.get("postgres_changes") or []
        ]
        broadcast = config.get("broadcast") or {}
        delay = self.subscription_delay
        chan = sock.channels[topic] = Channel(
            topic, claims, bindings, time.monotonic() + delay, private=private,
            self_broadcast=bool(broadcast.get("self")), ack_broadcast=bool(broadcast.get("ack")),
            token=token, join_ref=ref,
        )  # fmt: skip
        self.joins.append(topic)
        self._schedule_confirm(sock, chan)
        response = {"postgres_changes": [b.reply() for b in bindings]}
        await sock.send("phx_reply", topic, {"status": "ok", "response": response}, ref)
        if bindings:
            asyncio.get_running_loop().call_later(
                delay, lambda: asyncio.ensure_future(self._announce_listening(sock, topic))
            )

    async def _refuse(self, sock: Socket, topic: str, ref: str | None, reason: str) -> None:
        """A refused join is answered after join_refusal_seconds; the socket reads nothing else
        meanwhile (its messages are handled one at a time), as its other channels wait upstream."""
        await asyncio.sleep(self.limits.join_refusal_seconds)
        await sock.send("phx_reply", topic, {"status": "error", "response": {"reason": reason}}, ref)

    # -- channel life --------------------------------------------------------------------

    def _schedule_confirm(self, sock: Socket, chan: Channel) -> None:
        """confirm_token: again after confirm_token_seconds, or when the token expires if sooner."""
        if chan.confirm is not None:
            chan.confirm.cancel()
        left = chan.claims.get("exp", float("inf")) - time.time()
        delay = max(0.0, min(self.limits.confirm_token_seconds, left))
        loop = asyncio.get_running_loop()
        chan.confirm = loop.call_later(delay, lambda: asyncio.ensure_future(self._confirm_token(sock, chan)))

    async def _confirm_token(self, sock: Socket, chan: Channel) -> None:
        if sock.channels.get(chan.topic) is not chan:
            return
        if (expired := time.time() - chan.claims.get("exp", float("inf"))) >= 0:
            await self.shutdown(sock, chan, f"Token has expired {int(expired)} seconds ago")
        else:
            self._schedule_confirm(sock, chan)

    async def _access_token(self, sock: Socket, chan: Channel, token: object) -> None:
        """handle_in("access_token"): the same token, none, or an API key ("sb_...") change nothing;
        another is checked (shutdown if it is not valid), then a private channel's read policy is
        run again with it (shutdown if access was lost)."""
        if not isinstance(token, str) or token == chan.token or token.startswith("sb_"):
            return
        try:
            claims = self.keys.verify(token)
        except InvalidToken as exc:
            expired = "expired" in str(exc)
            await self.shutdown(sock, chan, "Token has expired" if expired else f"The token is not valid: {exc}")
            return
        sub_topic = chan.topic.removeprefix("realtime:")
        if chan.private and not await self.can_read(claims, sub_topic):
            await self.shutdown(sock, chan, NO_READ.format(sub_topic))
            return
        chan.claims, chan.token, chan.can_write = claims, token, None
        self._schedule_confirm(sock, chan)

    async def shutdown(self, sock: Socket, chan: Channel, message: str) -> None:
        """shutdown_response: a `system` error message naming the reason, then the channel closes."""
        if sock.channels.get(chan.topic) is not chan:
            return
        del sock.channels[chan.topic]
        if chan.confirm is not None:
            chan.confirm.cancel()
        self.shutdowns.append((chan.topic, message))
        sub_topic = chan.topic.removeprefix("realtime:")
        system = {"extension": "system", "status": "error", "message": message, "channel": sub_topic}
        await sock.send("system", chan.topic, system)
        await sock.send("phx_close", chan.topic, {}, chan.join_ref)

    # -- broadcast -----------------------------------------------------------------------

    async def _as_role(self, conn: psycopg.AsyncConnection, claims: dict, sub_topic: str) -> None:
        """Authorization.set_conn_config: role, realtime.topic, claims and headers, transaction-local."""
        await conn.execute(
            "select set_config('role', %s, true), set_config('realtime.topic', %s, true),"
            " set_config('request.jwt.claims', %s, true), set_config('request.headers', '{}', true)",
            (claims.get("role") or "anon", sub_topic, json.dumps(claims)),
        )

    async def can_read(self, claims: dict, sub_topic: str) -> bool:
        """The read policy: a broadcast row for the topic is inserted as the platform, then looked
        for as the caller under RLS; everything is rolled back. No table, no policy: refused."""
        try:
            async with await self._connect() as conn, conn.transaction(force_rollback=True):
                cur = await conn.execute(
                    "insert into realtime.messages (topic, extension, private)"
                    " values (%s, 'broadcast', true) returning id",
                    (sub_topic,),
                )
                (message_id,) = await cur.fetchone()
                await self._as_role(conn, claims, sub_topic)
                cur = await conn.execute(
                    "select 1 from realtime.messages where topic = %s and extension = 'broadcast' and id = %s",
                    (sub_topic, message_id),
                )
                return await cur.fetchone() is not None
        except psycopg.Error as exc:
            log.warning("RlsPolicyError topic=%s: %s", sub_topic, exc)
            return False

    async def can_write(self, claims: dict, sub_topic: str) -> bool:
        """The write policy: an INSERT of a broadcast row as the caller under RLS, rolled back."""
        try:
            async with await self._connect() as conn, conn.transaction(force_rollback=True):
                await self._as_role(conn, claims, sub_topic)
                await conn.execute(
                    "insert into realtime.messages (topic, extension, private) values (%s, 'broadcast', true)",
                    (sub_topic,),
                )
                return True
        except psycopg.errors.InsufficientPrivilege:
            return False
        except psycopg.Error as exc:
            log.warning("RlsPolicyError topic=%s: %s", sub_topic, exc)
            return False

    async def fan_out(self, sub_topic: str, private: bool, message: dict, sender: Socket | None = None) -> int:
        """Sends {type: broadcast, event, payload} to every socket joined to the topic with the same
        privacy (the sender only if it asked for self); returns how many sockets got it."""
        topic = f"realtime:{sub_topic}"
        sent = 0
        for sock in list(self.sockets):
            chan = sock.channels.get(topic)
            if chan is None or chan.private != private or (sock is sender and not chan.self_broadcast):
                continue
            if await sock.send("broadcast", topic, message):
                sock.delivered += 1
                sent += 1
                self.events.add()  # MessageDispatcher: :update_rate_counter to the receiving channel
                if self.events.avg > self.limits.max_events_per_second:
                    await self.shutdown(sock, chan, TOO_MANY_MESSAGES)
        return sent

    async def _client_broadcast(self, sock: Socket, chan: Channel, ref: str | None, payload: dict) -> None:
        sub_topic = chan.topic.removeprefix("realtime:")
        if chan.private:
            if chan.can_write is None:
                chan.can_write = await self.can_write(chan.claims, sub_topic)
            if not chan.can_write:
                return  # the real server drops it silently, with no reply even when ack was asked
        message = {"type": "broadcast", "event": payload.get("event"), "payload": payload.get("payload")}
        self.events.add()
        await self.fan_out(sub_topic, chan.private, message, sender=sock)
        if chan.ack_broadcast:
            await sock.send("phx_reply", chan.topic, {"status": "ok", "response": {}}, ref)

    def _caller(self, request: web.Request) -> dict | None:
        """AuthTenant: the Authorization bearer token, else apikey (as the gateway forwards them);
        None when missing or invalid."""
        try:
            token = forwarded_token(self.keys, request.headers.get("Authorization", ""), request.headers.get("apikey"))
            return self.keys.verify(token or "")
        except (GatewayRefusal, InvalidToken):
            return None

    async def handle_broadcast_api(self, request: web.Request) -> web.Response:
        """POST /realtime/v1/api/broadcast (BroadcastController + BatchBroadcast): 401 without a
        valid token, 422 for malformed messages, else 202 with an empty body. Private messages are
        sent only where the caller's write policy allows (the service role bypasses RLS)."""
        if time.monotonic() < self.outage_until:
            return web.Response(status=503, text="stand-in: outage")
        if (claims := self._caller(request)) is None:
            return web.json_response({"message": "Unauthorized"}, status=401)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"errors": {"messages": ["is invalid"]}}, status=422)
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not messages:
            return web.json_response({"errors": {"messages": ["can't be blank"]}}, status=422)
        required = ("topic", "payload", "event")
        errors = [
            {k: ["can't be blank"] for k in required if not isinstance(m, dict) or m.get(k) is None} for m in messages
        ]
        if any(errors):
            return web.json_response({"errors": {"messages": errors}}, status=422)
        if refused := self.refusal(messages):
            return refused
        await self.broadcast(claims, messages)
        return web.Response(status=202)

    async def handle_single_broadcast_api(self, request: web.Request) -> web.Response:
        """POST /realtime/v1/api/broadcast/{topic}/events/{event}?private=true, the body being the
        JSON payload (BroadcastSingleController; realtime-py's channel.http_send): 202."""
        if time.monotonic() < self.outage_until:
            return web.Response(status=503, text="stand-in: outage")
        if (claims := self._caller(request)) is None:
            return web.json_response({"message": "Unauthorized"}, status=401)
        try:
            payload = await request.json()
        except ValueError:
            return web.json_response({"errors": {"payload": ["is invalid"]}}, status=422)
        message = {"topic": request.match_info["topic"], "event": request.match_info["event"], "payload": payload,
                   "private": request.query.get("private") == "true"}  # fmt: skip
        if refused := self.refusal([message]):
            return refused
        await self.broadcast(claims, [message])
        return web.Response(status=202)

    def refusal(self, messages: list[dict]) -> web.Response | None:
        """BatchBroadcast's checks before anything is sent: each payload under the plan's cap
        (422), then check_rate_limit (429) against the counter's average as of its last tick."""
        cap = self.limits.max_payload_size_in_kb * 1000
        too_big = [len(json.dumps(m["payload"])) > cap for m in messages]
        if any(too_big):
            errors = [{"payload": ["Payload size exceeds tenant limit"]} if big else {} for big in too_big]
            return web.json_response({"errors": {"messages": errors}}, status=422)
        average, limit = self.events.avg, self.limits.max_events_per_second
        if average > limit:
            return web.json_response({"message": "You have exceeded your rate limit"}, status=429)
        if average + len(messages) > limit:
            message = "Too many messages to broadcast, please reduce the batch size"
            return web.json_response({"message": message}, status=429)
        return None

    async def from_database(self, row: dict) -> None:
        """ReplicationConnection.handle_message(Insert): a row inserted into realtime.messages (by
        realtime.send) is broadcast as the platform (BatchBroadcast with super_user: no write
        policy) to its topic, public or private as the row says, with meta.id the row's id. A row
        missing one of payload, event, topic, private or id, or refused by BatchBroadcast's checks
        (the payload cap, the rate limit), is dropped with UnableToBroadcastChanges in the log."""
        required = ("payload", "event", "topic", "private", "id")
        if missing := [k for k in required if row.get(k) is None]:
            log.warning("UnableToBroadcastChanges: %s missing", missing[0])
            return
        payload = json.loads(row["payload"]) if isinstance(row["payload"], str) else row["payload"]
        message = {"topic": row["topic"], "event": row["event"], "payload": payload, "private": bool(row["private"]),
                   "id": row["id"]}  # fmt: skip
        if (refused := self.refusal([message])) is not None:
            log.warning("UnableToBroadcastChanges: %s", refused.text)
            return
        self.from_db += 1
        await self.broadcast({"role": "service_role"}, [message], super_user=True)

    async def broadcast(self, claims: dict, messages: list[dict], super_user: bool = False) -> None:
        """Sends validated {topic, event, payload, private?, id?} messages as `claims` would (the
        platform itself when `super_user`: no write policy is run)."""
        allowed: dict[str, bool] = {}
        for m in messages:
            private = bool(m.get("private"))
            if private and not super_user:
                if m["topic"] not in allowed:
                    allowed[m["topic"]] = await self.can_write(claims, m["topic"])
                if not allowed[m["topic"]]:
                    continue
            message = {"type": "broadcast", "event": m["event"], "payload": m["payload"]}
            if m.get("id"):
                message["meta"] = {"id": m["id"]}
            self.events.add()  # send_message_and_count
            await self.fan_out(m["topic"], private, message)

    def deliveries(self) -> dict[int, int]:
        """Broadcasts delivered so far, by socket id (open sockets only)."""
        return {sock.id: sock.delivered for sock in self.sockets}

    async def _announce_listening(self, sock: Socket, topic: str) -> None:
        if topic in sock.channels:
            await sock.send(
                "system",
                topic,
                {
                    "channel": topic.removeprefix("realtime:"),
                    "extension": "postgres_changes",
                    "message": "Subscribed to PostgreSQL",
                    "status": "ok",
                },
            )


def is_message_insert(change: dict) -> bool:
    """An insert into realtime.messages or one of its partitions (messages_2026_12_06, ...), which
    ReplicationConnection reads through its publication."""
    return change["action"] == "I" and change["schema"] == "realtime" and change["table"].startswith("messages")


def iso_utc(pg_timestamp: str | None) -> str:
    """'2026-11-25 17:11:00.070949+00' → '2026-11-25T17:11:00.070Z': walrus formats it with
    to_char(... at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), milliseconds."""
    moment = datetime.fromisoformat(pg_timestamp) if pg_timestamp else datetime.now(UTC)
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def to_change(change: dict, commit_ts: str | None) -> dict:
    columns = change.get("columns") or []
    record = {c["name"]: c["value"] for c in columns}
    old = {c["name"]: c["value"] for c in change.get("identity") or []}
    kind = {"I": "INSERT", "U": "UPDATE", "D": "DELETE"}[change["action"]]
    data = {
        "schema": change["schema"],
        "table": change["table"],
        "commit_timestamp": iso_utc(commit_ts),
        "type": kind,
        "columns": [{"name": c["name"], "type": c["type"]} for c in columns],
        "errors": None,
    }
    if kind != "DELETE":  # walrus adds "record" for inserts and updates only
        data["record"] = record
    if kind != "INSERT":
        data["old_record"] = old
    return data
