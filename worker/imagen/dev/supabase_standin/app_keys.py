"""Typed keys for what the stand-in's request handlers share."""

from pathlib import Path

from aiohttp import web

from imagen.dev.supabase_standin.db import ConnectionPool
from imagen.dev.supabase_standin.keys import ProjectKeys

POOL = web.AppKey("pool", ConnectionPool)
AUTH_POOL = web.AppKey("auth_pool", ConnectionPool)
KEYS = web.AppKey("keys", ProjectKeys)
BLOB_ROOT = web.AppKey("blob_root", Path)
EXPOSED = web.AppKey("exposed_schemas", tuple)
CLAIMS = web.RequestKey("claims", dict)
