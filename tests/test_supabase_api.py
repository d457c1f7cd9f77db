"""Users reach Imagen as a frontend does: supabase-py with their own JWT, through the PostgREST
and Storage stand-ins (tests/supabase_standin), on the real database with its real RLS."""

from __future__ import annotations

import contextlib

import httpx
import pytest
from postgrest.exceptions import APIError
from storage3.exceptions import StorageApiError
from supabase import ClientOptions, create_client

from tests.world import finish_all


@contextlib.contextmanager
def client_for(standin, token: str | None = None):
    """As supabase-js does: the anon key as apikey, the user's JWT (if any) as Authorization."""
    options = ClientOptions(headers={"Authorization": f"Bearer {token}"} if token else {})
    client = create_client(standin.url, standin.keys.anon, options=options)
    try:
        yield client
    finally:
        client.postgrest.session.close()
        client.storage.session.close()


@pytest.fixture
def alice(standin, user_a):
    with client_for(standin, standin.keys.user(user_a)) as client:
        yield client


@pytest.fixture
def bob(standin, user_b):
    with client_for(standin, standin.keys.user(user_b)) as client:
        yield client


def create_series(client, n=2, prompt="a heron"):
    return (
        client.schema("imagen")
        .rpc("create_series", {"prompt": prompt, "n": n, "settings": {"width": 256, "height": 256}})
        .execute()
        .data
    )


def test_user_creates_a_series_and_reads_it_back(alice, user_a):
    series = create_series(alice, 3)
    assert len(series["try_ids"]) == 3
    rows = alice.schema("imagen").table("jobs").select("id,series_idx,status").eq("series_id", series["id"]).execute()
    assert sorted(r["series_idx"] for r in rows.data) == [1, 2, 3]
    assert {r["status"] for r in rows.data} == {"queued"}
    own = alice.schema("imagen").table("series").select("*").execute().data
    assert [s["owner_id"] for s in own] == [str(user_a)]


def test_json_paths_select_filter_and_order_as_postgrest_does(alice):
    """PostgREST's JSON paths: `->` keeps the JSON value, `->>` gives text, the output is named
    after the last key unless aliased, and filters and orders take paths too."""
    create_series(alice, 1, prompt="a heron at dawn")
    create_series(alice, 1, prompt="the grey HERON")
    create_series(alice, 1, prompt="an owl")
    series = alice.schema("imagen").table("series")
    rows = (
        series.select("settings->>prompt,size:settings->width,settings->steps")
        .ilike("settings->>prompt", "%heron%")
        .order("settings->>prompt", desc=True)
        .execute()
        .data
    )
    assert rows == [
        {"prompt": "the grey HERON", "size": 256, "steps": 4},
        {"prompt": "a heron at dawn", "size": 256, "steps": 4},
    ]
    assert series.select("id").eq("settings->width", "256").execute().data  # `->`: compared as JSON
    assert series.select("id").eq("settings->>width", "256").execute().data  # `->>`: as text


def test_other_user_reads_nothing_and_cannot_pick_a_winner(conn, alice, bob):
    series = create_series(alice, 2)
    finish_all(conn)
    for table in ("series", "jobs", "images"):
        assert bob.schema("imagen").table(table).select("id").execute().data == []
    image_id = alice.schema("imagen").table("images").select("id").execute().data[0]["id"]
    with pytest.raises(APIError) as err:
        bob.schema("imagen").rpc("select_image", {"series_id": series["id"], "image_id": image_id}).execute()
    assert err.value.code == "22023"
    assert conn.execute("select selected_image_id from imagen.series").fetchone()[0] is None


def test_bad_input_is_a_400_with_the_field_named(standin, user_a):
    headers = {"apikey": standin.keys.anon, "Authorization": f"Bearer {standin.keys.user(user_a)}",
               "Content-Profile": "imagen"}  # fmt: skip
    response = httpx.post(f"{standin.url}/rest/v1/rpc/create_series", json={"prompt": "x", "n": 11}, headers=headers)
    assert response.status_code == 400
    assert response.json()["code"] == "22023"
    assert response.json()["message"].startswith("n ")


def test_anon_cannot_create_a_series(standin):
    with client_for(standin) as anon, pytest.raises(APIError) as err:
        create_series(anon)
    assert err.value.code == "42501"
    raw = httpx.post(f"{standin.url}/rest/v1/rpc/create_series", json={"prompt": "x", "n": 1},
                     headers={"apikey": standin.keys.anon, "Content-Profile": "imagen"})  # fmt: skip
    assert raw.status_code == 401


def test_no_key_or_a_forged_key_is_refused(standin, user_a):
    assert httpx.post(f"{standin.url}/rest/v1/rpc/create_series", json={}).status_code == 401
    forged = standin.keys.user(user_a).rsplit(".", 1)[0] + ".AAAA"
    headers = {"apikey": forged, "Authorization": f"Bearer {forged}", "Content-Profile": "imagen"}
    response = httpx.post(f"{standin.url}/rest/v1/rpc/create_series", json={"prompt": "x", "n": 1}, headers=headers)
    assert response.status_code == 401


@pytest.mark.parametrize("fn", ["claim_job", "heartbeat_job", "complete_job", "fail_job", "release_job"])
def test_user_token_cannot_call_worker_rpcs(alice, fn):
    args = {"claim_job": {"worker_id": "x"}}.get(
        fn, {"job_id": "00000000-0000-0000-0000-000000000000", "worker_id": "x"}
    )
    if fn == "complete_job":
        args |= {"bucket": "imagen", "path": "p", "bytes": 1}
    if fn == "fail_job":
        args |= {"error": "x"}
    with pytest.raises(APIError) as err:
        alice.schema("imagen").rpc(fn, args).execute()
    assert err.value.code == "42501"


def test_unknown_function_is_a_404(alice):
    with pytest.raises(APIError) as err:
        alice.schema("imagen").rpc("no_such_function", {}).execute()
    assert err.value.code == "PGRST202"


def test_user_token_cannot_write_to_storage(alice, user_a, conn):
    with pytest.raises(StorageApiError) as err:
        alice.storage.from_("imagen").upload(f"{user_a}/solo/forged.png", b"\x89PNG", {"content-type": "image/png"})
    assert err.value.status in (403, "403")
    assert conn.execute("select count(*) from storage.objects").fetchone()[0] == 0


def test_owner_reads_own_picture_and_signed_url_others_do_not(standin, alice, bob, user_a, user_b, conn):
    from pydantic import SecretStr

    from imagen.transports.supabase.project import SupabaseProject
    from imagen.transports.supabase.storage import SupabaseStorage

    path = f"{user_a}/solo/pic.png"
    project = SupabaseProject(standin.url, SecretStr(standin.keys.service_role))
    try:
        SupabaseStorage(project).put(path, b"\x89PNG-one")
        SupabaseStorage(project).put(path, b"\x89PNG-two")  # upsert: a retry overwrites
    finally:
        project.close()
    assert alice.storage.from_("imagen").download(path) == b"\x89PNG-two"
    signed = alice.storage.from_("imagen").create_signed_url(path, 3600)["signedURL"]
    assert httpx.get(signed).content == b"\x89PNG-two"
    with pytest.raises(StorageApiError) as err:
        bob.storage.from_("imagen").download(path)
    assert err.value.status == "404"  # the real code in the body; the HTTP status is 400
    with pytest.raises(StorageApiError):
        bob.storage.from_("imagen").create_signed_url(path, 3600)
    # As supabase/storage answers: 400 with statusCode "404"; ?download= saves instead of showing.
    unseen = httpx.get(
        f"{standin.url}/storage/v1/object/authenticated/imagen/{path}",
        headers={"apikey": standin.keys.anon, "Authorization": f"Bearer {standin.keys.user(user_b)}"},
    )
    assert (unseen.status_code, unseen.json()) == (400, {"statusCode": "404", "error": "Not found",
                                                         "message": "The resource was not found"})  # fmt: skip
    attached = httpx.get(signed + "&download=try 1.png")
    assert attached.headers["Content-Disposition"] == "attachment; filename=try%201.png; filename*=UTF-8''try%201.png;"
    assert "Content-Disposition" not in httpx.get(signed).headers


def test_a_mask_upload_keeps_the_uploaders_metadata_as_storage_does(standin, user_a, conn):
    """supabase-js sends a Blob as multipart (the file part unnamed, `metadata` a JSON field before
    it) and other bodies as they are (metadata in `x-metadata`, base64 JSON); Storage keeps either
    in storage.objects.user_metadata, which imagen_private.mask_problem reads."""
    import base64
    import json

    url = f"{standin.url}/storage/v1/object/imagen/{user_a}/masks"
    auth = {"apikey": standin.keys.anon, "Authorization": f"Bearer {standin.keys.user(user_a)}"}
    said = {"width": 256, "height": 256, "painted": 120}
    multipart = httpx.post(f"{url}/a.png", headers={**auth, "x-upsert": "false"}, files=[
        ("cacheControl", (None, "3600")), ("metadata", (None, json.dumps(said))),
        ("", ("blob", b"\x89PNG-mask", "image/png"))])  # fmt: skip
    assert multipart.status_code == 200, multipart.text
    encoded = base64.b64encode(json.dumps(said).encode()).decode()
    binary = httpx.post(f"{url}/b.png", content=b"\x89PNG-mask-two",
                        headers={**auth, "content-type": "image/png", "x-metadata": encoded})  # fmt: skip
    assert binary.status_code == 200, binary.text
    plain = httpx.post(f"{url}/c.png", content=b"\x89PNG", headers={**auth, "content-type": "image/png"})
    assert plain.status_code == 200, plain.text
    rows = conn.execute("select name, metadata, user_metadata from storage.objects order by name").fetchall()
    assert [(name.rsplit("/", 1)[1], meta["mimetype"], user) for name, meta, user in rows] == [
        ("a.png", "image/png", said), ("b.png", "image/png", said), ("c.png", "image/png", {})]  # fmt: skip
