"""A STAND-IN for the Supabase servers that cannot run on these machines (no Docker engine, no
internet): PostgREST, Storage and Realtime. One small aiohttp server on 127.0.0.1 speaking their
wire protocols, backed by the real test Postgres. Used only by tests and benchmarks, reached
only through SUPABASE_URL — the code under test does not know it is not Supabase."""

from tests.supabase_standin.server import SupabaseStandIn

__all__ = ["SupabaseStandIn"]
