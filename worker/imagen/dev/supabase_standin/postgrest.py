"""PostgREST stand-in: POST /rest/v1/rpc/{fn} and GET /rest/v1/{table}, with PostgREST's
profiles, status codes and error bodies."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import psycopg
from aiohttp import web
from psycopg import sql

from imagen.dev.supabase_standin.app_keys import CLAIMS, EXPOSED, POOL

CONFIG_TOML = Path(__file__).resolve().parents[4] / "supabase" / "config.toml"


def configured_schemas() -> tuple[str, ...]:
    """The schemas the API exposes, from supabase/config.toml's [api] schemas, as `supabase config
    push` sets them on a hosted project."""
    return tuple(tomllib.loads(CONFIG_TOML.read_text())["api"]["schemas"])


SINGLE_OBJECT = "application/vnd.pgrst.object+json"
FILTER_OPS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def error(status: int, code: str, message: str, details: str | None = None, hint: str | None = None):
    body = {"code": code, "message": message, "details": details, "hint": hint}
    return web.json_response(body, status=status)


def status_for(sqlstate: str, role: str, message: str = "") -> int:
    """PostgREST's SQLSTATE → HTTP status: mapSQLtoHTTP in src/PostgREST/Error.hs, in its order
    (the first match wins). `authed` there is "the request's role is not the anon role". Not
    modelled: RAISE SQLSTATE 'PGRST' with a JSON message and detail (full control of the answer)."""
    authed = role != "anon"
    exact = {"23503": 409, "23505": 409, "25006": 405, "53400": 500, "57P01": 503, "P0001": 400, "42P01": 404,
             "42P17": 500}  # fmt: skip
    prefixes = [("08", 503), ("09", 500), ("0L", 403), ("0P", 403), ("25", 500), ("28", 403), ("2D", 500), ("38", 500),
                ("39", 500), ("3B", 500), ("40", 500), ("53", 503), ("54", 500), ("55", 500), ("57", 500), ("58", 500),
                ("F0", 500), ("HV", 500), ("P0", 500), ("XX", 500)]  # fmt: skip
    if sqlstate == "21000":  # cardinality_violation: pg-safeupdate's refusal is the client's fault
        return 400 if message.endswith("requires a WHERE clause") else 500
    if sqlstate == "22023":  # a role named in the JWT that does not exist
        return 401 if message.startswith("role") and message.endswith("does not exist") else 400
    if sqlstate == "42883":
        return 406 if message.startswith("function xmlagg(") else 404
    if sqlstate == "42501":
        return 403 if authed else 401
    if sqlstate.startswith("PT"):  # RAISE ... USING ERRCODE = 'PT429': the status is the caller's
        return int(sqlstate[2:]) if sqlstate[2:].isdigit() else 500
    # Each exact code comes before the prefix that would also match it there (25006, 53400, 57P01, P0001).
    if sqlstate in exact:
        return exact[sqlstate]
    for prefix, status in prefixes:
        if sqlstate.startswith(prefix):
            return status
    return 400


def pg_error(exc: psycopg.Error, role: str) -> web.Response:
    diag = exc.diag
    sqlstate = exc.sqlstate or "XX000"
    message = diag.message_primary or str(exc)
    status = status_for(sqlstate, role, message)
    response = error(status, sqlstate, message, diag.message_detail, diag.message_hint)
    if status == 401:  # PostgREST's headers for a 401 PgError
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


class Refused(Exception):
    """A request PostgREST answers with an error before touching the database."""

    def __init__(self, response: web.Response) -> None:
        self.response = response


def profile(request: web.Request, header: str) -> str:
    schema = request.headers.get(header, "public")
    exposed = request.app[EXPOSED]
    if schema not in exposed:
        raise Refused(error(406, "PGRST106", f"The schema must be one of the following: {', '.join(exposed)}"))
    return schema


def refusals(handler):
    """Turns a Refused into its response."""

    async def handle(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except Refused as refused:
            return refused.response

    return handle


FUNCTION_SQL = """
select p.proargnames as names, p.proargtypes::regtype[]::text[] as types, p.proretset as retset,
       t.typtype = 'c' or t.oid = 'record'::regtype as composite, t.oid = 'void'::regtype as void,
       p.pronargs as nargs
from pg_proc p join pg_namespace n on n.oid = p.pronamespace join pg_type t on t.oid = p.prorettype
where n.nspname = %s and p.proname = %s
"""


@refusals
async def call_rpc(request: web.Request) -> web.Response:
    claims = request[CLAIMS]
    schema = profile(request, "Content-Profile")
    fn = request.match_info["fn"]
    try:
        args = await request.json() if request.can_read_body else {}
    except json.JSONDecodeError as exc:
        return error(400, "PGRST102", f"Empty or invalid json: {exc}")
    async with request.app[POOL].as_role(claims) as conn:
        try:
            candidates = await (await conn.execute(FUNCTION_SQL, (schema, fn))).fetchall()
            match = next((c for c in candidates if set(args) <= set((c["names"] or [])[: c["nargs"]])), None)
            if match is None:
                return error(404, "PGRST202", f"Could not find the function {schema}.{fn}({', '.join(sorted(args))})"
                             " in the schema cache")  # fmt: skip
            types = dict(zip(match["names"] or [], match["types"], strict=False))
            named = sql.SQL(", ").join(
                sql.SQL("{} => {}::{}").format(sql.Identifier(k), sql.Placeholder(), sql.SQL(types[k])) for k in args
            )
            call = sql.SQL("{}.{}({})").format(sql.Identifier(schema), sql.Identifier(fn), named)
            if match["retset"]:
                query = sql.SQL("select coalesce(jsonb_agg(to_jsonb(r)), '[]') as body from {} r").format(call)
            elif match["composite"]:
                query = sql.SQL("select to_jsonb(r) as body from {} r").format(call)
            else:
                query = sql.SQL("select to_jsonb({}) as body").format(call)
            params = [json.dumps(v) if isinstance(v, dict | list) else v for v in args.values()]
            params = [None if v is None else str(v) for v in params]
            row = await (await conn.execute(query, params)).fetchone()
        except psycopg.Error as exc:
            return pg_error(exc, claims["role"])
    if match["void"]:  # PostgREST answers a void function with 204 and no body
        return web.Response(status=204)
    return web.json_response(row["body"])


def parse_filter(column: str, expr: str) -> sql.Composable:
    op, _, value = expr.partition(".")
    if op == "is" and value in ("null", "true", "false"):
        return sql.SQL("{} is {}").format(sql.Identifier(column), sql.SQL(value))
    if op in FILTER_OPS:
        return sql.SQL("{} {} {}").format(sql.Identifier(column), sql.SQL(FILTER_OPS[op]), sql.Literal(value))
    if op in ("like", "ilike"):  # PostgREST takes * for % (a URL-friendly wildcard)
        return sql.SQL("{} {} {}").format(sql.Identifier(column), sql.SQL(op), sql.Literal(value.replace("*", "%")))
    if op == "in" and value.startswith("(") and value.endswith(")"):
        # in.(a,"b,c"): as PostgREST, `column = any('{...}')`, the array typed by the column.
        items = [item.strip('"') for item in re.findall(r'"(?:[^"\\]|\\.)*"|[^,]+', value[1:-1])]
        array = "{" + ",".join('"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"' for item in items) + "}"
        return sql.SQL("{} = any({})").format(sql.Identifier(column), sql.Literal(array))
    raise ValueError(f"unsupported filter {column}={expr}")


def filters(request: web.Request) -> list[sql.Composable]:
    return [parse_filter(k, v) for k, v in request.query.items() if k not in ("select", "order", "limit")]


@refusals
async def delete_rows(request: web.Request) -> web.Response:
    """DELETE /rest/v1/{table}?filters, as the caller (RLS decides which rows go): 204, or the
    deleted rows with Prefer: return=representation."""
    claims = request[CLAIMS]
    schema = profile(request, "Content-Profile")
    table = request.match_info["table"]
    try:
        wheres = filters(request)
    except ValueError as exc:
        return error(400, "PGRST100", str(exc))
    query = sql.SQL("delete from {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
    if wheres:
        query += sql.SQL(" where ") + sql.SQL(" and ").join(wheres)
    wrapped = sql.SQL("with d as ({} returning *) select coalesce(jsonb_agg(to_jsonb(d)), '[]') as body from d").format(
        query
    )
    async with request.app[POOL].as_role(claims) as conn:
        try:
            rows = (await (await conn.execute(wrapped)).fetchone())["body"]
        except psycopg.Error as exc:
            return pg_error(exc, claims["role"])
    if "return=representation" in request.headers.get("Prefer", ""):
        return web.json_response(rows)
    return web.Response(status=204)


@refusals
async def read_table(request: web.Request) -> web.Response:
    claims = request[CLAIMS]
    schema = profile(request, "Accept-Profile")
    table = request.match_info["table"]
    select = request.query.get("select", "*")
    columns = sql.SQL("*") if select == "*" else sql.SQL(", ").join(map(sql.Identifier, select.split(",")))
    try:
        wheres = filters(request)
    except ValueError as exc:
        return error(400, "PGRST100", str(exc))
    query = sql.SQL("select {} from {}.{}").format(columns, sql.Identifier(schema), sql.Identifier(table))
    if wheres:
        query += sql.SQL(" where ") + sql.SQL(" and ").join(wheres)
    if order := request.query.get("order"):
        col, _, direction = order.partition(".")
        direction = sql.SQL("desc" if direction == "desc" else "asc")
        query += sql.SQL(" order by {} {}").format(sql.Identifier(col), direction)
    if limit := request.query.get("limit"):
        query += sql.SQL(" limit {}").format(sql.Literal(int(limit)))
    wrapped = sql.SQL("select coalesce(jsonb_agg(to_jsonb(r)), '[]') as body from ({}) r").format(query)
    async with request.app[POOL].as_role(claims) as conn:
        try:
            rows = (await (await conn.execute(wrapped)).fetchone())["body"]
        except psycopg.Error as exc:
            return pg_error(exc, claims["role"])
    if SINGLE_OBJECT in request.headers.get("Accept", ""):
        if len(rows) != 1:
            return error(406, "PGRST116", "JSON object requested, multiple (or no) rows returned",
                         f"The result contains {len(rows)} rows")  # fmt: skip
        return web.json_response(rows[0])
    return web.json_response(rows)


def routes() -> list[web.RouteDef]:
    return [
        web.post("/rest/v1/rpc/{fn}", call_rpc),
        web.get("/rest/v1/{table}", read_table),
        web.delete("/rest/v1/{table}", delete_rows),
    ]
