"""Demo and test users, made straight in auth.users (a real project makes them through Auth)."""

from __future__ import annotations

import uuid

import psycopg


def ensure_user(conn: psycopg.Connection, email: str) -> uuid.UUID:
    """The id of the auth user with this email, created if missing (demo and tests only).

    No ON CONFLICT: a real project's auth.users has only a partial unique index on email."""
    row = conn.execute("select id from auth.users where email = %s", (email,)).fetchone()
    if row is not None:
        return row[0]
    return conn.execute(
        "insert into auth.users (id, email) values (gen_random_uuid(), %s) returning id", (email,)
    ).fetchone()[0]
