"""Users on a direct connection: acting as one, the way PostgREST does it, and adding one to a
local database.

PostgREST verifies the JWT, then runs each request in a transaction with
`set local role <role>` and `request.jwt.claims` set to the token's claims; RLS and
`auth.uid()` read them from there. The demo and the CLI do the same.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from imagen.config import ConfigError

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}


def user_claims(user_id: uuid.UUID | str, role: str = "authenticated") -> dict:
    return {"sub": str(user_id), "role": role, "aud": role}


@contextmanager
def acting_as(conn: psycopg.Connection, role: str, claims: dict | None = None) -> Iterator[None]:
    """One transaction run as `role` with `claims`; commits on success, rolls back on error."""
    with conn.transaction():
        conn.execute("select set_config('role', %s, true)", (role,))
        conn.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps(claims or {"role": role}),))
        yield


@contextmanager
def as_user(conn: psycopg.Connection, user_id: uuid.UUID | str) -> Iterator[None]:
    with acting_as(conn, "authenticated", user_claims(user_id)):
        yield


def ensure_user(conn: psycopg.Connection, email: str) -> uuid.UUID:
    """The id of the auth user with this email, created if missing (straight in auth.users: local
    databases, the demo and the tests; a real project makes users through Auth).

    No ON CONFLICT: a real project's auth.users has only a partial unique index on email."""
    row = conn.execute("select id from auth.users where email = %s", (email,)).fetchone()
    if row is not None:
        return row[0]
    return conn.execute(
        "insert into auth.users (id, email) values (gen_random_uuid(), %s) returning id", (email,)
    ).fetchone()[0]


def add_local_user(conn: psycopg.Connection, email: str) -> uuid.UUID:
    """`imagen users add`: a user to submit as, on a database on this machine only. On a hosted
    project people sign up through Auth (the web app), which also checks their address."""
    host = conn.info.host if not conn.info.host.startswith("/") else ""
    if host not in LOCAL_HOSTS:
        raise ConfigError(f"imagen users add works on a local database only (this one is on {host}); "
                          "on a Supabase project, sign up in the web app or add the user in the dashboard")  # fmt: skip
    if "@" not in email.strip("@"):
        raise ConfigError(f"users add: {email!r} is not an email address")
    return ensure_user(conn, email)
