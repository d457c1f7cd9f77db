"""The autoscaler's login: `imagen db autoscaler-login` lets the role imagen_autoscaler (made by
the migrations without LOGIN, with the right to call imagen.queue_depth() and nothing else) log in
with a password of the operator's. The password leaves this process only as a SCRAM verifier, so
it is in no statement the server could log."""

from __future__ import annotations

import psycopg
from psycopg import sql

from imagen.errors import ConfigError

AUTOSCALER_ROLE = "imagen_autoscaler"
MIN_PASSWORD_LENGTH = 16


def enable_autoscaler_login(conn: psycopg.Connection, password: str) -> None:
    """Gives imagen_autoscaler LOGIN and this password; ConfigError (nothing changed) if the
    password is short or the migrations that make the role have not run."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(f"the autoscaler's password must have at least {MIN_PASSWORD_LENGTH} characters")
    if conn.execute("select 1 from pg_roles where rolname = %s", (AUTOSCALER_ROLE,)).fetchone() is None:
        raise ConfigError(f"role {AUTOSCALER_ROLE} is missing: run `imagen db migrate` first")
    verifier = conn.pgconn.encrypt_password(password.encode(), AUTOSCALER_ROLE.encode(), b"scram-sha-256")
    conn.execute(
        sql.SQL("alter role {} with login password {}").format(
            sql.Identifier(AUTOSCALER_ROLE), sql.Literal(verifier.decode())
        )
    )
