"""Acting as a signed-in user over a direct connection, the way PostgREST does it.

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
