"""Typed keys for what the stand-in's request handlers share."""

import dataclasses
from pathlib import Path

from aiohttp import web

from imagen.dev.supabase_standin.db import ConnectionPool
from imagen.dev.supabase_standin.keys import ProjectKeys

MAX_ROWS = 1000  # db-max-rows on a hosted project


@dataclasses.dataclass
class RowCap:
    """PostgREST's db-max-rows, changeable while the stand-in runs (a test lowers it)."""

    rows: int = MAX_ROWS


POOL = web.AppKey("pool", ConnectionPool)
AUTH_POOL = web.AppKey("auth_pool", ConnectionPool)
KEYS = web.AppKey("keys", ProjectKeys)
BLOB_ROOT = web.AppKey("blob_root", Path)
EXPOSED = web.AppKey("exposed_schemas", tuple)
ROW_CAP = web.AppKey("row_cap", RowCap)
CLAIMS = web.RequestKey("claims", dict)
