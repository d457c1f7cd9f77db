"""PostgREST stand-in: POST /rest/v1/rpc/{fn} and GET /rest/v1/{table}, with PostgREST's
profiles, status codes and error bodies, and a hosted project's limits: the role's own settings
per request (PostgREST's role settings: anon's 3 s and authenticated's 8 s statement timeout) and
at most 1,000 rows a read (db-max-rows).

A read pages as PostgREST's does: `limit` and `offset`, Content-Range on every answer, the total
with Prefer: count=exact (206 for a part of it, 416 PGRST103 for an offset past it). Tests may
lower the cap (`SupabaseStandIn.max_rows`) so a read past it needs few rows.

Still differs (checked against PostgREST/postgrest): max-rows caps table reads only, not a
set-returning RPC's result; role settings are read on every request (PostgREST reads them with
its schema cache, so an `alter role ... set` needs a reload there); no Range request header,
counts planned or estimated; the rest is listed in the package's docstring."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import psycopg
from aiohttp import web
from psycopg import sql

from imagen.dev.supabase_standin.app_keys import CLAIMS, EXPOSED, POOL, ROW_CAP

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


# The routines PostgREST's schema cache holds under a name: each input parameter with its type and
# whether it has a default (pronargdefaults covers the last ones), the return shape.
ROUTINES_SQL = """
select p.oid, coalesce(array_agg(a.name order by a.ord) filter (where a.ord is not null), '{}') as names,
       coalesce(array_agg(format_type(a.type, null) order by a.ord) filter (where a.ord is not null), '{}') as types,
       coalesce(array_agg(a.ord > p.pronargs - p.pronargdefaults order by a.ord)
                filter (where a.ord is not null), '{}') as optional,
       coalesce(array_agg(a.mode = 'v' order by a.ord) filter (where a.ord is not null), '{}') as variadic,
       p.proretset as retset, t.typtype = 'c' or t.oid = 'record'::regtype as composite,
       t.oid = 'void'::regtype as void
from pg_proc p
join pg_namespace n on n.oid = p.pronamespace
join pg_type t on t.oid = p.prorettype
left join lateral (
  select coalesce(p.proargnames[i], '') as name, coalesce(p.proallargtypes[i], p.proargtypes[i - 1]) as type,
         coalesce(p.proargmodes[i], 'i') as mode, row_number() over (order by i) as ord
  from generate_series(1, coalesce(cardinality(p.proallargtypes), p.pronargs)) i  -- proargtypes counts from 0
  where coalesce(p.proargmodes[i], 'i') in ('i', 'b', 'v')
) a on true
where n.nspname = %s and p.proname = %s and p.prokind = 'f'
group by p.oid, t.typtype, t.oid
"""


def find_routine(schema: str, fn: str, keys: set[str], routines: list[dict]) -> dict:
    """findProc in PostgREST's Plan.hs: the overload whose required parameters are exactly the
    body's keys, less the optional ones it names; else the one with a single unnamed json/jsonb
    parameter; none → 404 PGRST202, several → 300 PGRST203."""

    def matches(r: dict) -> bool:
        required = {n for n, opt in zip(r["names"], r["optional"], strict=True) if not opt}
        optional = {n for n, opt in zip(r["names"], r["optional"], strict=True) if opt}
        if not r["names"]:
            return not keys
        return keys - optional == required

    def single_unnamed_json(r: dict) -> bool:
        return r["names"] == [""] and r["types"][0] in ("json", "jsonb")

    named = [r for r in routines if matches(r)]
    fallback = [r for r in routines if not matches(r) and single_unnamed_json(r)]
    chosen = named or fallback
    if len(chosen) == 1:
        return chosen[0]
    if not chosen:
        listed = f"({', '.join(sorted(keys))})" if keys else " without parameters"
        searched = (f" with parameter{'s' if len(keys) > 1 else ''} {', '.join(sorted(keys))}" if keys
                    else " without parameters")  # fmt: skip
        raise Refused(error(404, "PGRST202", f"Could not find the function {schema}.{fn}{listed} in the schema cache",
                            f"Searched for the function {schema}.{fn}{searched} or with a single unnamed json/jsonb"
                            " parameter, but no matches were found in the schema cache."))  # fmt: skip
    candidates = ", ".join(
        f"{schema}.{fn}({', '.join(f'{n} => {t}' for n, t in zip(r['names'], r['types'], strict=True))})"
        for r in chosen
    )
    raise Refused(error(300, "PGRST203", f"Could not choose the best candidate function between: {candidates}",
                        hint="Try renaming the parameters or the function itself in the database so function"
                        " overloading can be resolved"))  # fmt: skip


def call_query(schema: str, fn: str, routine: dict, keys: list[str]) -> sql.Composable:
    """callPlanToQuery in PostgREST's QueryBuilder.hs: the arguments are read from the JSON body by
    json_to_record with each parameter's own type (so a JSON array becomes a bigint[], an object a
    composite, any value a json), and passed by name to the function in a LATERAL call."""
    function = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(fn))
    if routine["names"] == [""]:  # the single unnamed json parameter gets the whole body
        args = sql.SQL("pgrst_payload.json_data::{}").format(sql.SQL(routine["types"][0]))
        source = sql.SQL("(select %s::json as json_data) pgrst_payload")
    elif keys:
        types = dict(zip(routine["names"], routine["types"], strict=True))
        variadic = dict(zip(routine["names"], routine["variadic"], strict=True))
        columns = sql.SQL(", ").join(sql.Identifier(k) for k in keys)
        typed = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(k), sql.SQL(types[k])) for k in keys)
        source = sql.SQL(
            "(select %s::json as json_data) pgrst_payload, "
            "lateral (select {} from json_to_record(pgrst_payload.json_data) as _({}) limit 1) pgrst_body"
        ).format(columns, typed)
        args = sql.SQL(", ").join(
            sql.SQL("{}{} := pgrst_body.{}").format(
                sql.SQL("variadic " if variadic[k] else ""), sql.Identifier(k), sql.Identifier(k)
            )
            for k in keys
        )
    else:
        source = sql.SQL("(select %s::json as json_data) pgrst_payload")
        args = sql.SQL("")
    scalar = not routine["composite"]
    call = (
        sql.SQL("lateral (select {}({}) as pgrst_scalar) pgrst_call")
        if scalar
        else sql.SQL("lateral {}({}) pgrst_call")
    ).format(function, args)
    row = sql.SQL("pgrst_call.pgrst_scalar") if scalar else sql.SQL("pgrst_call")
    shape = "coalesce(jsonb_agg(to_jsonb({})), '[]')" if routine["retset"] else "to_jsonb({})"
    return sql.SQL("select " + shape + " as body from {}, {}").format(row, source, call)


@refusals
async def call_rpc(request: web.Request) -> web.Response:
    claims = request[CLAIMS]
    schema = profile(request, "Content-Profile")
    fn = request.match_info["fn"]
    raw = await request.read()
    try:
        args = json.loads(raw) if raw.strip() else {}
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return error(400, "PGRST102", f"Empty or invalid json: {exc}")
    if not isinstance(args, dict):  # a JSON array calls the function once per element: not modelled
        return error(400, "PGRST102", "The stand-in calls a function with a JSON object only")
    async with request.app[POOL].as_role(claims, role_settings=True) as conn:
        try:
            routines = await (await conn.execute(ROUTINES_SQL, (schema, fn))).fetchall()
            routine = find_routine(schema, fn, set(args), routines)
            query = call_query(schema, fn, routine, list(args))
            row = await (await conn.execute(query, (json.dumps(args),))).fetchone()
        except psycopg.Error as exc:
            return pg_error(exc, claims["role"])
    if routine["void"]:  # PostgREST answers a void function with 204 and no body
        return web.Response(status=204)
    return web.json_response(row["body"])


# A field as PostgREST's query grammar names one: a column, then a JSON path of -> (json) and ->>
# (text) steps, each a key or, all digits, an array index (`settings->>prompt`, `tags->0`).
FIELD = re.compile(r"(?P<column>[A-Za-z_][A-Za-z0-9_$]*)(?P<path>(?:->>?-?[A-Za-z0-9_$]+)*)")
STEP = re.compile(r"(->>?)(-?[A-Za-z0-9_$]+)")


def is_index(key: str) -> bool:
    return re.fullmatch(r"-?\d+", key) is not None


def parse_field(text: str) -> tuple[str, list[tuple[str, str]]]:
    """A field's column and JSON path steps (arrow, key), or ValueError."""
    match = FIELD.fullmatch(text)
    if not match:
        raise ValueError(f"unsupported field {text!r}")
    return match["column"], STEP.findall(match["path"])


def field_sql(text: str) -> sql.Composable:
    """pgFmtField in PostgREST's SqlFragment.hs: the column, then each step with its key as an
    unknown-typed literal (an index cast to int), so `settings->>prompt` is "settings"->>'prompt'."""
    column, path = parse_field(text)
    rendered: sql.Composable = sql.Identifier(column)
    for arrow, key in path:
        operand = sql.SQL("{}::int").format(sql.Literal(key)) if is_index(key) else sql.Literal(key)
        rendered = sql.SQL("{}{}{}").format(rendered, sql.SQL(arrow), operand)
    return rendered


def select_item(item: str) -> sql.Composable:
    """One item of ?select=: `alias:field`, or a field named after the last key of its JSON path
    (after the column where the path has no key), as pgFmtAs in PostgREST's SqlFragment.hs."""
    alias, colon, field = item.partition(":")
    if not colon:
        alias, field = "", item
    column, path = parse_field(field)
    if not alias and path:
        keys = [key for _, key in path if not is_index(key)]
        alias = keys[-1] if keys else column
    if not alias:
        return sql.Identifier(column)
    return sql.SQL("{} as {}").format(field_sql(field), sql.Identifier(alias))


def select_list(select: str) -> sql.Composable:
    """?select= without embedding: *, or columns and JSON paths, each maybe aliased."""
    if select == "*":
        return sql.SQL("*")
    return sql.SQL(", ").join(select_item(item.strip()) for item in select.split(","))


def order_by(order: str) -> sql.Composable:
    """?order=field.desc.nullslast,...: each term a field (JSON paths too), its direction and its nulls."""
    terms = []
    for term in order.split(","):
        field, *modifiers = term.split(".")
        words = {"asc": "asc", "desc": "desc", "nullsfirst": "nulls first", "nullslast": "nulls last"}
        if any(m not in words for m in modifiers):
            raise ValueError(f"unsupported order {term!r}")
        terms.append(sql.SQL(" ").join([field_sql(field), *(sql.SQL(words[m]) for m in modifiers)]))
    return sql.SQL(", ").join(terms)


def parse_filter(column: str, expr: str) -> sql.Composable:
    field = field_sql(column)
    op, _, value = expr.partition(".")
    if op == "is" and value in ("null", "true", "false"):
        return sql.SQL("{} is {}").format(field, sql.SQL(value))
    if op in FILTER_OPS:
        return sql.SQL("{} {} {}").format(field, sql.SQL(FILTER_OPS[op]), sql.Literal(value))
    if op in ("like", "ilike"):  # PostgREST takes * for % (a URL-friendly wildcard)
        return sql.SQL("{} {} {}").format(field, sql.SQL(op), sql.Literal(value.replace("*", "%")))
    if op == "in" and value.startswith("(") and value.endswith(")"):
        # in.(a,"b,c"): as PostgREST, `column = any('{...}')`, the array typed by the column.
        items = [item.strip('"') for item in re.findall(r'"(?:[^"\\]|\\.)*"|[^,]+', value[1:-1])]
        array = "{" + ",".join('"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"' for item in items) + "}"
        return sql.SQL("{} = any({})").format(field, sql.Literal(array))
    raise ValueError(f"unsupported filter {column}={expr}")


def filters(request: web.Request) -> list[sql.Composable]:
    return [parse_filter(k, v) for k, v in request.query.items() if k not in ("select", "order", "limit", "offset")]


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
    async with request.app[POOL].as_role(claims, role_settings=True) as conn:
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
    try:
        columns = select_list(request.query.get("select", "*"))
        wheres = filters(request)
        order = order_by(request.query["order"]) if request.query.get("order") else None
    except ValueError as exc:
        return error(400, "PGRST100", str(exc))
    query = sql.SQL("select {} from {}.{}").format(columns, sql.Identifier(schema), sql.Identifier(table))
    if wheres:
        query += sql.SQL(" where ") + sql.SQL(" and ").join(wheres)
    # Prefer: count=exact counts every row the filters let through, whatever the page.
    counted = "count=exact" in request.headers.get("Prefer", "")
    total = sql.SQL("(select count(*) from ({}) c)").format(query) if counted else sql.SQL("null")
    if order is not None:
        query += sql.SQL(" order by {}").format(order)
    # db-max-rows (a hosted project's 1,000): no read answers more, whatever it asks for.
    cap = request.app[ROW_CAP].rows
    limit = min(int(request.query["limit"]), cap) if request.query.get("limit") else cap
    offset = int(request.query.get("offset") or 0)
    query += sql.SQL(" limit {} offset {}").format(sql.Literal(limit), sql.Literal(offset))
    wrapped = sql.SQL("select coalesce(jsonb_agg(to_jsonb(r)), '[]') as body, {} as total from ({}) r").format(
        total, query
    )
    async with request.app[POOL].as_role(claims, role_settings=True) as conn:
        try:
            answer = await (await conn.execute(wrapped)).fetchone()
        except psycopg.Error as exc:
            return pg_error(exc, claims["role"])
    rows, count = answer["body"], answer["total"]
    if SINGLE_OBJECT in request.headers.get("Accept", ""):
        if len(rows) != 1:
            return error(406, "PGRST116", "JSON object requested, multiple (or no) rows returned",
                         f"The result contains {len(rows)} rows")  # fmt: skip
        return web.json_response(rows[0])
    return paged(rows, offset, count)


def paged(rows: list, offset: int, count: int | None) -> web.Response:
    """PostgREST's answer to a read (rangeStatusHeader): Content-Range `first-last/total` (`*` for
    an unknown total, `*/total` for no rows), 206 when the rows are part of a known total, 416
    when the offset lies past it."""
    if count is not None and offset > count:
        response = error(416, "PGRST103", "Requested range not satisfiable",
                         f"An offset of {offset} was requested, but there are only {count} rows.")  # fmt: skip
    else:
        partial = count is not None and len(rows) < count
        response = web.json_response(rows, status=206 if partial else 200)
    last = offset + len(rows) - 1
    shown = f"{offset}-{last}" if count != 0 and offset <= last else "*"
    response.headers["Content-Range"] = f"{shown}/{'*' if count is None else count}"
    return response


def routes() -> list[web.RouteDef]:
    return [
        web.post("/rest/v1/rpc/{fn}", call_rpc),
        web.get("/rest/v1/{table}", read_table),
        web.delete("/rest/v1/{table}", delete_rows),
    ]
