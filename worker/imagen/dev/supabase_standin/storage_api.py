"""Storage API stand-in: upload (upsert), download and signed URLs. Rights come from
storage.objects rows and their RLS policies, checked as the caller's role; bytes live on disk.

Answers as supabase/storage does (src/http/error-handler.ts, src/storage/renderer/renderer.ts):
every error but a 500 is HTTP 400, its real code in the body's `statusCode` ("404", "409", ...);
a missing object is 400 {"statusCode": "404", "error": "Not found", ...}; a statement timeout
400 {"statusCode": "544", "error": "DatabaseTimeout"}, a lock timeout "423" ResourceLocked
(DBError.fromDBError); `?download` on a
download or signed URL adds Content-Disposition: attachment (with the name given, if any);
x-upsert counts only when it is exactly "true". An upload is multipart (the first file part, named
anything, its type the `contentType` field's or the part's own, the custom metadata the `metadata`
or `userMetadata` field's JSON, fields before the file) or a binary body (its type the
Content-Type header's, the custom metadata base64 JSON in `x-metadata`), as
src/storage/uploader.ts reads it; the custom metadata goes to storage.objects.user_metadata.

Not reproduced: ranges, ETag / Last-Modified / Cache-Control, image transforms, resumable (TUS)
and S3 uploads, bucket administration, the exact texts of every error, the object's own
mimetype on download (always image/png here)."""

from __future__ import annotations

import binascii
import json
import time
from base64 import b64decode
from pathlib import Path
from urllib.parse import quote

import jwt
import psycopg
from aiohttp import web

from imagen.dev.supabase_standin.app_keys import BLOB_ROOT, CLAIMS, KEYS, POOL
from imagen.dev.supabase_standin.keys import InvalidToken


def storage_error(status: int, error: str, message: str) -> web.Response:
    """The error handler's answer: 400 for every error but a 500, the real code in the body."""
    body = {"statusCode": str(status), "error": error, "message": message}
    return web.json_response(body, status=500 if status >= 500 else 400)


def not_found() -> web.Response:
    return storage_error(404, "Not found", "The resource was not found")


def object_response(request: web.Request, data: bytes, mimetype: str) -> web.Response:
    """Renderer.handleDownload: `?download` makes it an attachment, named when a name is given."""
    response = web.Response(body=data, content_type=mimetype)
    if (name := request.query.get("download")) is not None:
        encoded = quote(name, safe="")
        response.headers["Content-Disposition"] = (
            f"attachment; filename={encoded}; filename*=UTF-8''{encoded};" if name else "attachment;"
        )
    return response


def denied(exc: psycopg.Error) -> web.Response:
    """A database error as Storage renders it (DBError.fromDBError): RLS refusals 403, a statement
    timeout 544 DatabaseTimeout, a lock timeout 423 ResourceLocked, anything else 500."""
    if exc.sqlstate == "42501":
        return storage_error(403, "Unauthorized", exc.diag.message_primary or "permission denied")
    if exc.sqlstate == "57014":
        return storage_error(544, "DatabaseTimeout", "The connection to the database timed out")
    if exc.sqlstate == "55P03":
        return storage_error(423, "ResourceLocked", "The resource is locked")
    return storage_error(500, "DatabaseError", exc.diag.message_primary or str(exc))


def blob_path(request: web.Request, bucket: str, name: str) -> Path:
    root: Path = request.app[BLOB_ROOT]
    full = (root / bucket / name).resolve()
    if not full.is_relative_to(root.resolve()) or not name:
        raise web.HTTPBadRequest(reason="bad object name")
    return full


UPSERT_SQL = """
insert into storage.objects (bucket_id, name, owner, owner_id, metadata, user_metadata)
values (%(bucket)s, %(name)s, %(owner)s::uuid, %(owner)s::text, %(metadata)s::jsonb, %(user_metadata)s::jsonb)
on conflict (bucket_id, name) do update
  set metadata = excluded.metadata, user_metadata = excluded.user_metadata,
      updated_at = now(), last_accessed_at = now()
returning id
"""
INSERT_SQL = UPSERT_SQL.split("on conflict")[0] + "returning id"


def custom_metadata(text: str | None, base64: bool = False) -> str | None:
    """The uploader's own metadata as JSON text, or None: unreadable JSON is ignored, as there."""
    if text is None:
        return None
    try:
        value = json.loads(b64decode(text).decode() if base64 else text)
    except (ValueError, binascii.Error):
        return None
    return json.dumps(value)


async def incoming_file(request: web.Request) -> tuple[bytes, str, str | None] | None:
    """Uploader.incomingFileInfo: a multipart/form-data body's file (its fields before it: the
    type, the custom metadata), or else the body itself as the file, its Content-Type the
    object's; None when a multipart body has no file or is not multipart after all."""
    if not request.content_type.startswith("multipart/form-data"):
        data = await request.read()
        return data, request.content_type or "application/octet-stream", custom_metadata(
            request.headers.get("x-metadata"), base64=True)  # fmt: skip
    fields: dict[str, str] = {}
    try:
        reader = await request.multipart()
        part = await reader.next()
        while part is not None and part.filename is None:  # fields before the file
            fields[part.name or ""] = await part.text()
            part = await reader.next()
    except (ValueError, AssertionError):
        part = None
    if part is None:
        return None
    data = await part.read()
    mime = fields.get("contentType") or part.headers.get("Content-Type", "application/octet-stream")
    return data, mime, custom_metadata(fields.get("metadata", fields.get("userMetadata")))


async def upload(request: web.Request) -> web.Response:
    claims = request[CLAIMS]
    bucket, name = request.match_info["bucket"], request.match_info["name"]
    upsert = request.headers.get("x-upsert") == "true"
    incoming = await incoming_file(request)
    if incoming is None:
        return storage_error(400, "InvalidRequest", "No content provided")
    data, mime, user_metadata = incoming
    user_metadata = user_metadata or "{}"  # { ...file.userMetadata, ...options.metadata }
    # Bucket settings are the Storage server's own business, not subject to the caller's RLS.
    async with request.app[POOL].as_role({"role": "service_role"}) as conn:
        cur = await conn.execute(
            "select allowed_mime_types, file_size_limit from storage.buckets where id = %s", (bucket,)
        )
        row = await cur.fetchone()
    async with request.app[POOL].as_role(claims) as conn:
        if row is None:
            return storage_error(404, "Bucket not found", f"bucket {bucket} not found")
        if row["allowed_mime_types"] and mime not in row["allowed_mime_types"]:
            return storage_error(415, "invalid_mime_type", f"mime type {mime} is not supported")
        if row["file_size_limit"] and len(data) > row["file_size_limit"]:
            return storage_error(413, "Payload too large", "The object exceeded the maximum allowed size")
        params = {"bucket": bucket, "name": name, "owner": claims.get("sub"),
                  "metadata": json.dumps({"size": len(data), "mimetype": mime}),
                  "user_metadata": user_metadata}  # fmt: skip
        try:
            row = await (await conn.execute(UPSERT_SQL if upsert else INSERT_SQL, params)).fetchone()
        except psycopg.errors.UniqueViolation:
            return storage_error(409, "Duplicate", "The resource already exists")
        except psycopg.Error as exc:
            return denied(exc)
        # Written inside the transaction: a failed write leaves no row behind.
        path = blob_path(request, bucket, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return web.json_response({"Key": f"{bucket}/{name}", "Id": str(row["id"])})


async def visible(request: web.Request, claims: dict, bucket: str, name: str) -> bool:
    async with request.app[POOL].as_role(claims) as conn:
        try:
            cur = await conn.execute("select 1 from storage.objects where bucket_id = %s and name = %s", (bucket, name))
            return await cur.fetchone() is not None
        except psycopg.Error:
            return False


async def stored_mimetype(request: web.Request, bucket: str, name: str) -> str:
    """The Content-Type given at upload, which Storage serves the object with (metadata.mimetype)."""
    async with request.app[POOL].as_role({"role": "service_role"}) as conn:
        cur = await conn.execute(
            "select metadata->>'mimetype' as mimetype from storage.objects where bucket_id = %s and name = %s",
            (bucket, name),
        )
        row = await cur.fetchone()
    return (row and row["mimetype"]) or "application/octet-stream"


async def download(request: web.Request) -> web.Response:
    bucket, name = request.match_info["bucket"], request.match_info["name"]
    if not await visible(request, request[CLAIMS], bucket, name):
        return not_found()
    body = blob_path(request, bucket, name).read_bytes()
    return object_response(request, body, await stored_mimetype(request, bucket, name))


def signed_url(request: web.Request, bucket: str, name: str, seconds: int) -> str:
    claims = {"url": f"{bucket}/{name}", "exp": int(time.time()) + seconds}
    token = jwt.encode(claims, request.app[KEYS].secret, "HS256")
    return f"/object/sign/{bucket}/{name}?token={token}"


async def sign(request: web.Request) -> web.Response:
    bucket, name = request.match_info["bucket"], request.match_info["name"]
    body = await request.json()
    if not await visible(request, request[CLAIMS], bucket, name):
        return not_found()
    return web.json_response({"signedURL": signed_url(request, bucket, name, int(body.get("expiresIn", 60)))})


async def sign_many(request: web.Request) -> web.Response:
    """POST /object/sign/{bucket} {expiresIn, paths}: one entry per path, an error where not visible."""
    bucket = request.match_info["bucket"]
    body = await request.json()
    out = []
    for name in body.get("paths", []):
        if await visible(request, request[CLAIMS], bucket, name):
            url = signed_url(request, bucket, name, int(body.get("expiresIn", 60)))
            out.append({"error": None, "path": name, "signedURL": url})
        else:
            out.append({"error": "Either the object does not exist or you do not have access to it",
                        "path": name, "signedURL": None})  # fmt: skip
    return web.json_response(out)


async def signed_download(request: web.Request) -> web.Response:
    bucket, name = request.match_info["bucket"], request.match_info["name"]
    try:
        claims = jwt.decode(request.query.get("token", ""), request.app[KEYS].secret, algorithms=["HS256"])
    except jwt.PyJWTError as exc:
        return storage_error(400, "InvalidJWT", str(exc))
    if claims.get("url") != f"{bucket}/{name}":
        return storage_error(400, "InvalidSignature", "the token is for another object")
    path = blob_path(request, bucket, name)
    if not path.exists():
        return not_found()
    return object_response(request, path.read_bytes(), await stored_mimetype(request, bucket, name))


async def remove(request: web.Request) -> web.Response:
    """DELETE /object/{bucket} {"prefixes": [...]}: removes what the caller may delete."""
    bucket = request.match_info["bucket"]
    names = (await request.json()).get("prefixes", [])
    async with request.app[POOL].as_role(request[CLAIMS]) as conn:
        try:
            # As the Storage API does: storage.protect_delete() refuses deletes without it.
            await conn.execute("select set_config('storage.allow_delete_query', 'true', true)")
            cur = await conn.execute(
                "delete from storage.objects where bucket_id = %s and name = any(%s) returning name, id",
                (bucket, names),
            )
            removed = await cur.fetchall()
        except psycopg.Error as exc:
            return denied(exc)
    for row in removed:
        blob_path(request, bucket, row["name"]).unlink(missing_ok=True)
    return web.json_response([{"name": r["name"], "id": str(r["id"]), "bucket_id": bucket} for r in removed])


def routes() -> list[web.RouteDef]:
    return [
        web.post("/storage/v1/object/sign/{bucket}/{name:.+}", sign),
        web.post("/storage/v1/object/sign/{bucket}", sign_many),
        web.get("/storage/v1/object/sign/{bucket}/{name:.+}", signed_download),
        web.post("/storage/v1/object/{bucket}/{name:.+}", upload),
        web.get("/storage/v1/object/authenticated/{bucket}/{name:.+}", download),
        web.get("/storage/v1/object/{bucket}/{name:.+}", download),
        web.delete("/storage/v1/object/{bucket}", remove),
    ]


__all__ = ["InvalidToken", "routes"]
