"""A STAND-IN for the Supabase servers that cannot run on these machines (no Docker engine, no
internet): Auth (GoTrue), PostgREST, Storage and Realtime, and the gateway's apikey check and CORS.
One small aiohttp server on 127.0.0.1 speaking their wire protocols, backed by the real test
Postgres. Used only by tests, benchmarks and local pages, reached only through SUPABASE_URL — the
code under test does not know it is not Supabase.

Reproduced: Auth at /auth/v1 as supabase/auth answers, in either mode of [auth.email]
enable_confirmations: off (autoconfirmed), POST /signup answers a session (422
user_already_exists); on (a hosted project's default), the bare user and a mail with a /verify
link sent over SMTP to a mail catcher (imagen.dev.mail_catcher, with an inbox API), a repeated
sign-up of a confirmed address 200 with a made-up user, 400 email_not_confirmed on /token, POST
/resend, and 429 over_email_send_rate_limit (max_frequency per user, email_sent an hour); either
mode: POST /recover and its link, GET /verify redirecting with the session (or otp_expired) in
the fragment, PUT /user's password (422 same_password); on sign-up 422 weak_password with
weak_password.reasons and 400 validation_failed; POST /token with
grant_type=password (400 invalid_credentials) and refresh_token (rotation with GoTrue's reuse
rules: a lost answer gets the active token back, reuse within refresh_token_reuse_interval is
let through, later reuse is 400 refresh_token_already_used and revokes the session's tokens;
400 refresh_token_not_found), GET /user, POST /logout (204, sessions deleted, scope
global/local/others); errors as `{code, error_code, msg}`, or `{code, message}` when the client
sends X-Supabase-Api-Version 2024-01-01; with AuthConfig.hosted(), a hosted project's Auth: the built-in mailer
sending only to the team's addresses (400 email_address_not_authorized, no user made) and refusing example and
test domains (400 email_address_invalid), per-IP request limits a 5-minute window (30 sign-ups, recoveries,
resends and password changes together, 150 token requests, 30 verifications: 429 over_request_rate_limit), a
resend interval of 60 s; HS256 access tokens with GoTrue's claims (sub, email,
phone, role, aud, session_id, aal, amr, app/user_metadata, is_anonymous, iat, exp), rows in
auth.users, auth.identities, auth.sessions, auth.mfa_amr_claims and auth.refresh_tokens written
as supabase_auth_admin, bcrypt password hashes; settings from supabase/config.toml [auth]. The
gateway: /auth/v1 wants the project's apikey only (401 "No API key found in request" /
"Invalid API key"); CORS preflights answered 200 on every path, Access-Control-Allow-Origin: *
on every answer. Elsewhere: HS256 JWTs checked with the project secret (Authorization, else
apikey; none → 401); PostgREST's login as `authenticator` and per-request `set local role` + `request.jwt.claims`;
`POST /rest/v1/rpc/{fn}` as PostgREST calls it: the overload chosen by findProc (the body's keys
against required and optional parameters, else a single unnamed json/jsonb parameter; none →
404 PGRST202, several → 300 PGRST203), the arguments read from the JSON body by json_to_record
with each parameter's type (arrays, composites, json) and passed by name; Content-/Accept-Profile
schema selection limited to the exposed schemas (else 406 PGRST106), scalar / single-row / set
results, errors as `{code, message, details, hint}` with the status of PostgREST's
ResultError.pgErrorStatus (42501 → 401 anon / 403 user, 22023 and P0001 → 400, 23503/23505 → 409,
25006 → 405, 57P01 → 503, 0L/0P/28 → 403, PTnnn → nnn, ...), each role's own settings per request
(anon's 3 s and authenticated's 8 s statement timeout); `GET /rest/v1/{table}` (at most 1,000 rows)
with select, eq/neq/gt/gte/lt/lte/is filters, order, limit and the single-object Accept header;
`DELETE /rest/v1/{table}` with the same filters (204, or the rows with return=representation).
Storage: multipart or raw-body upload with x-upsert, bucket mime/size limits, rights from `storage.objects`
rows under the caller's RLS (the service role bypasses it), download, remove, signed URLs; a statement timeout
answered "544" (DatabaseTimeout) and a lock timeout "423" (ResourceLocked), also as fault switches.
Realtime: Phoenix channels v1 JSON at /realtime/v1/websocket, phx_join answered with non-zero
binding ids echoing the client's bindings, then the `system` "Subscribed to PostgreSQL" message,
heartbeat replies, phx_leave/phx_close, postgres_changes events
(`ref: null`, `{ids, data: {schema, table, commit_timestamp, type, columns, record, errors}}`)
from a wal2json logical slot on the real database, filtered by the subscriber's RLS. Broadcast:
private channels authorized at join by RLS on realtime.messages (the real read check, rolled back;
refused → "Unauthorized: You do not have permissions to read from this Channel topic: ..."),
client broadcasts fanned out (config.broadcast self / ack; private sends need the write policy),
POST /realtime/v1/api/broadcast and /api/broadcast/{topic}/events/{event} answering 202, with a
count of broadcasts delivered per socket; Broadcast from the database: a realtime.messages row
(realtime.send, realtime.broadcast_changes, which the bootstrap defines as upstream does) read
from the WAL and broadcast as the platform to its topic, public or private, with meta.id.
"Private channels only" on by default (public joins refused, "PrivateOnly: ..."); a refused join
answered after 5 s while the socket's other channels wait, a refused token at connect after 2 s.
The project's Realtime limits (`realtime_limits`, the Free plan's by default, Pro and Team in
PLANS): messages a second counted as upstream counts them
(one per message sent, one more per channel it reaches, averaged over 12 ticks of 5 s), 429 on
the HTTP API over it ("You have exceeded your rate limit", "Too many messages to broadcast, please
reduce the batch size"), a channel that receives a message while over shut down with "Too many
messages per second"; the payload cap (422 "Payload size exceeds tenant limit"); private-only
projects refusing public joins. Channel life: a joined channel's token checked again every 5
minutes and when it expires (a `system` error "Token has expired N seconds ago", then phx_close),
an access_token message re-checking the token and re-running a private channel's read policy.

Not reproduced: Auth's SMS, OTP codes, magic links, invites and email changes, phone and
anonymous sign-ins, OAuth providers, SSO/SAML, MFA, PKCE, auth.one_time_tokens, the built-in
mailer's DNS check of an address (only example and test domains are refused), the per-IP limits
of magic links, SMS and SSO, user updates other than password and data, the admin API,
hooks, captcha, session timebox and inactivity timeout, the v2 signed
refresh tokens, asymmetric signing keys and JWKS; PostgREST's full query grammar, embedding, Prefer
headers (params=single-object, return=... on RPCs) and OpenAPI, an RPC body that is a JSON array
(one call per element), GET on /rpc, RAISE SQLSTATE 'PGRST' with a JSON message, the "Perhaps you
meant" hints of PGRST202, the schema cache (a function is looked up on every call), max-rows on
a set-returning RPC's result; Storage's S3
backend, image transforms, resumable uploads and bucket admin API; Realtime presence, broadcast
replay, the binary v2 serializer and RLS-filtered DELETE payloads, the broadcast-changes
replication's own slot and its watchdog (one wal2json slot reads everything here), a failed
connect's own error texts, the limits on concurrent users,
joins and channels per client, bytes a second and presence, Postgres Changes' own messages-a-second
limit (counted, not enforced), the payload cap on client broadcasts, the exact texts of token
errors other than expiry, and the `sb_` API keys. Fault hooks (outage,
dropped / silent sockets, delayed subscriptions) are stand-in only.
"""

from imagen.dev.supabase_standin.server import SupabaseStandIn

__all__ = ["SupabaseStandIn"]
