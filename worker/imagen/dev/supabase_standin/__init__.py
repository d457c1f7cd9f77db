"""A STAND-IN for the Supabase servers that cannot run on these machines (no Docker engine, no
internet): PostgREST, Storage and Realtime. One small aiohttp server on 127.0.0.1 speaking their
wire protocols, backed by the real test Postgres. Used only by tests and benchmarks, reached
only through SUPABASE_URL — the code under test does not know it is not Supabase.

Reproduced: HS256 JWTs checked with the project secret (Authorization, else apikey; none → 401);
PostgREST's login as `authenticator` and per-request `set local role` + `request.jwt.claims`;
`POST /rest/v1/rpc/{fn}` with named arguments, Content-/Accept-Profile schema selection limited
to the exposed schemas (else 406 PGRST106), scalar / single-row / set results, errors as
`{code, message, details, hint}` with PostgREST's status mapping (42501 → 401 anon / 403 user,
22023 and P0001 → 400, 23503/23505 → 409, unknown function → 404 PGRST202); `GET /rest/v1/{table}`
with select, eq/neq/gt/gte/lt/lte/is filters, order, limit and the single-object Accept header.
Storage: multipart upload with x-upsert, bucket mime/size limits, rights from `storage.objects`
rows under the caller's RLS (the service role bypasses it), download, remove, signed URLs.
Realtime: Phoenix channels v1 JSON at /realtime/v1/websocket, phx_join answered with non-zero
binding ids echoing the client's bindings, then the `system` "Subscribed to PostgreSQL" message,
heartbeat replies, phx_leave/phx_close, access_token updates, postgres_changes events
(`ref: null`, `{ids, data: {schema, table, commit_timestamp, type, columns, record, errors}}`)
from a wal2json logical slot on the real database, filtered by the subscriber's RLS. Broadcast:
private channels authorized at join by RLS on realtime.messages (the real read check, rolled back;
refused → "Unauthorized: You do not have permissions to read from this Channel topic: ..."),
client broadcasts fanned out (config.broadcast self / ack; private sends need the write policy),
POST /realtime/v1/api/broadcast and /api/broadcast/{topic}/events/{event} answering 202, with a
count of broadcasts delivered per socket.

Not reproduced: GoTrue (tokens are minted directly), PostgREST's full query grammar, embedding,
Prefer headers and OpenAPI; Storage's S3 backend, image transforms, resumable uploads and bucket
admin API; Realtime presence, broadcast replay, rate limits, the binary v2 serializer and RLS-filtered
DELETE payloads. Fault hooks (outage, dropped / silent sockets, delayed subscriptions) are
stand-in only.
"""

from imagen.dev.supabase_standin.server import SupabaseStandIn

__all__ = ["SupabaseStandIn"]
