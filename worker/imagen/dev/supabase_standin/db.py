"""Database access for the stand-in: a transaction run as the request's role with its claims,
exactly as PostgREST does (`set local role`, `request.jwt.claims`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from psycopg.rows import dict_row

# The role's settings for any database, then for this one (which win), applied transaction-local.
ROLE_SETTINGS_SQL = """
select set_config(split_part(c, '=', 1), substr(c, strpos(c, '=') + 1), true)
from pg_db_role_setting r, unnest(r.setconfig) c
where r.setrole = (select oid from pg_roles where rolname = %s)
  and r.setdatabase in (0, (select oid from pg_database where datname = current_database()))
order by r.setdatabase
"""


class ConnectionPool:
    """A few connections as one role: `authenticator` for PostgREST, `supabase_auth_admin` for Auth."""

    def __init__(self, url: str, size: int = 4) -> None:
        self.url = url
        self.size = size
        self._idle: asyncio.Queue[psycopg.AsyncConnection] = asyncio.Queue()
        self._opened = 0

    async def _take(self) -> psycopg.AsyncConnection:
        if self._idle.empty() and self._opened < self.size:
            self._opened += 1
            try:
                return await psycopg.AsyncConnection.connect(self.url, row_factory=dict_row)
            except Exception:
                self._opened -= 1
                raise
        conn = await self._idle.get()
        if conn.closed or conn.broken:
            self._opened -= 1
            return await self._take()
        return conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """A transaction as the role the pool logs in with."""
        conn = await self._take()
        try:
            async with conn.transaction():
                yield conn
        finally:
            if conn.closed or conn.broken:
                self._opened -= 1
            else:
                self._idle.put_nowait(conn)

    @asynccontextmanager
    async def as_role(self, claims: dict, role_settings: bool = False) -> AsyncIterator[psycopg.AsyncConnection]:
        """With `role_settings`, as PostgREST does (its "role settings", read with the schema
        cache): the role's own settings (`alter role ... set`, e.g. a hosted project's
        statement_timeout of 3 s for anon and 8 s for authenticated) apply to the transaction."""
        async with self.transaction() as conn:
            await conn.execute(
                "select set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
                (claims["role"], json.dumps(claims)),
            )
            if role_settings:
                await conn.execute(ROLE_SETTINGS_SQL, (claims["role"],))
            yield conn

    async def close(self) -> None:
        while not self._idle.empty():
            await self._idle.get_nowait().close()
