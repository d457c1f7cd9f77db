"""Upscale and edit, the kinds of work made from a picture beside vary: the database's rules for
them (create_from_image, the mask's checks, nobody else's pictures or masks, the cap), and the
tiny model rendering them through the worker (tiles that cover the picture, cancel, only the
masked region repainted)."""

from __future__ import annotations

import io
import itertools
import time
import uuid

import numpy as np
import psycopg
import pytest
from PIL import Image, ImageDraw
from psycopg.types.json import Jsonb

from imagen.console.children import mask_facts, upload_mask
from imagen.console.users import as_user
from imagen.loop.housekeeping import Housekeeping
from imagen.rendering.png import read_metadata
from imagen.rendering.upscale import axis_starts, tile_boxes
from imagen.transports import postgres_queue
from imagen.transports.local_storage import LocalStorage
from tests.workers import run_burst
from tests.world import create_tiny_series

SIZE = 256


def refusal(conn, user, statement: str, params=()) -> str:
    with pytest.raises(psycopg.Error) as caught, as_user(conn, user):
        conn.execute(statement, params)
    assert caught.value.sqlstate == "22023", caught.value
    return caught.value.diag.message_primary


def finished_picture(conn, user, tmp_path, renderer, db_url, size: int = SIZE) -> tuple[str, str]:
    """A try of `user` rendered by the tiny model and stored under tmp_path: (image id, path)."""
    series = create_tiny_series(conn, user, n=1, seed=11, size=size)
    run_burst(db_url, renderer, tmp_path)
    return tuple(map(str, conn.execute(
        "select id, path from imagen.images where series_id = %s", (series["id"],)).fetchone()))  # fmt: skip


def inserted_picture(conn, user, size: int = SIZE) -> str:
    """A finished try as the worker would leave it, without rendering (the database tests)."""
    series = create_tiny_series(conn, user, n=1, seed=7, size=size)
    return str(conn.execute(
        "insert into imagen.images (job_id, owner_id, series_id, bucket, path, bytes)"
        " select id, owner_id, series_id, 'imagen', owner_id || '/' || series_id || '/' || id || '.png', 10"
        " from imagen.jobs where series_id = %s returning id", (series["id"],)).fetchone()[0])  # fmt: skip


def make_from(conn, user, image_id, kind, n=None, **settings) -> dict:
    with as_user(conn, user):
        return conn.execute("select imagen.create_from_image(%s, %s, %s, %s)",
                            (image_id, kind, n, Jsonb(settings))).fetchone()[0]  # fmt: skip


def mask_png(size=(SIZE, SIZE), box=(96, 96, 160, 160)) -> bytes:
    mask = Image.new("L", size, 0)
    if box:
        ImageDraw.Draw(mask).rectangle(box, fill=255)
    out = io.BytesIO()
    mask.save(out, format="PNG")
    return out.getvalue()


def stored_mask(conn, user, tmp_path, data: bytes | None = None, **facts) -> str:
    """A mask uploaded to the user's masks folder, recorded as Storage records an upload."""
    data = data if data is not None else mask_png()
    said = {"width": SIZE, "height": SIZE, "painted": 65 * 65} | facts
    return upload_mask(conn, LocalStorage(tmp_path), user, data, said)


def counts(conn) -> tuple[int, int]:
    return conn.execute("select (select count(*) from imagen.series), (select count(*) from imagen.jobs)").fetchone()


# -- the database -------------------------------------------------------------------------------


def test_an_upscale_is_factor_times_its_picture_with_the_published_defaults(conn, user_a):
    image_id = inserted_picture(conn, user_a)
    child = make_from(conn, user_a, image_id, "upscale")
    assert (child["kind"], child["parent_image_id"], child["count"]) == ("upscale", image_id, 1)
    assert {k: child["settings"][k] for k in ("width", "height", "factor", "refine")} == {
        "width": 2 * SIZE, "height": 2 * SIZE, "factor": 2, "refine": 25}  # fmt: skip
    thrice = make_from(conn, user_a, image_id, "upscale", 4, factor=3, refine=40, seed=9)
    assert (thrice["settings"]["width"], thrice["count"]) == (3 * SIZE, 4)
    seeds = conn.execute("select (settings->>'seed')::bigint from imagen.jobs where series_id = %s order by series_idx",
                         (thrice["id"],)).fetchall()  # fmt: skip
    assert seeds == [(9,), (10,), (11,), (12,)]  # each try its own seed


def test_a_2048_upscale_of_1024_is_allowed_and_a_bigger_one_refused_before_anything_is_queued(conn, user_a):
    big = inserted_picture(conn, user_a, size=1024)
    assert make_from(conn, user_a, big, "upscale")["settings"]["width"] == 2048
    before = counts(conn)
    said = refusal(conn, user_a, "select imagen.create_from_image(%s, 'upscale', 1, %s)", (big, Jsonb({"factor": 3})))
    assert said == "factor 3: 1024x1024 times 3 would be 3072x3072, and an upscale may be at most 2048x2048"
    assert counts(conn) == before
    said = refusal(conn, user_a, "select imagen.create_from_image(%s, 'upscale', 5)", (big,))
    assert said == "n must be between 1 and 4 for a series of kind upscale, got 5"
    said = refusal(conn, user_a, "select imagen.create_from_image(%s, 'upscale', 1, %s)", (big, Jsonb({"refine": 90})))
    assert said == "refine must be between 5 and 60, got 90"
    assert counts(conn) == before


def test_an_edit_takes_a_mask_of_the_user_s_own_of_the_picture_s_size(conn, user_a, tmp_path):
    image_id = inserted_picture(conn, user_a)
    mask = stored_mask(conn, user_a, tmp_path)
    child = make_from(conn, user_a, image_id, "edit", 2, mask_path=mask, prompt="a red door")
    assert (child["kind"], child["count"], child["settings"]["prompt"]) == ("edit", 2, "a red door")
    tries = conn.execute("select settings->>'mask_path', settings->>'source_path' is not null from imagen.jobs"
                         " where series_id = %s", (child["id"],)).fetchall()  # fmt: skip
    assert tries == [(mask, True)] * 2
    # The prompt left out is the picture's.
    assert make_from(conn, user_a, image_id, "edit", mask_path=mask)["settings"]["prompt"] == "a lighthouse in a storm"


def test_a_mask_is_removed_with_the_last_series_that_names_it(conn, user_a, tmp_path):
    image_id = inserted_picture(conn, user_a)
    mask = stored_mask(conn, user_a, tmp_path)
    edit = make_from(conn, user_a, image_id, "edit", 1, mask_path=mask)
    with as_user(conn, user_a):
        rerun = conn.execute("select imagen.rerun_series(%s)", (edit["id"],)).fetchone()[0]
    queued = "select owner_id, bucket, path from imagen.objects_to_delete where path like '%%/masks/%%'"
    conn.execute("delete from imagen.series where id = %s", (edit["id"],))
    assert conn.execute(queued).fetchall() == []  # the rerun still asks with it
    conn.execute("delete from imagen.series where id = %s", (rerun["id"],))
    assert conn.execute(queued).fetchall() == [(user_a, "imagen", mask)]  # the worker removes it, then the row


@pytest.mark.parametrize(
    ("upload", "said"),
    [
        (dict(width=128), "mask_path is 128x256, the picture 256x256: paint the mask over the picture itself"),
        (dict(painted=0), "mask_path is empty: paint the region to repaint"),
        (dict(mimetype="image/webp"), "mask_path must be a PNG, got image/webp"),
        (dict(size=4194305), "mask_path must be at most 4194304 bytes, got 4194305"),
    ],
)
def test_a_mask_of_another_size_empty_not_a_png_or_too_big_is_refused_and_nothing_queued(
    conn, user_a, tmp_path, upload, said
):
    image_id = inserted_picture(conn, user_a)
    facts = {k: v for k, v in upload.items() if k in ("width", "painted")}
    mask = stored_mask(conn, user_a, tmp_path, **facts)
    stored = {k: v for k, v in upload.items() if k in ("mimetype", "size")}
    if stored:
        conn.execute("update storage.objects set metadata = metadata || %s where name = %s", (Jsonb(stored), mask))
    before = counts(conn)
    assert refusal(conn, user_a, "select imagen.create_from_image(%s, 'edit', 1, %s)",
                   (image_id, Jsonb({"mask_path": mask}))) == said  # fmt: skip
    assert counts(conn) == before


def test_nobody_upscales_or_edits_another_user_s_picture_or_uses_their_mask(conn, user_a, user_b, tmp_path):
    theirs = inserted_picture(conn, user_b)
    mine = inserted_picture(conn, user_a)
    missing = str(uuid.uuid4())
    for kind, settings in (("upscale", {}), ("edit", {"mask_path": "x/masks/m.png"})):
        # The same words as for a picture that does not exist: nobody learns whether it does.
        assert refusal(conn, user_a, "select imagen.create_from_image(%s, %s, 1, %s)", (theirs, kind, Jsonb(settings))
                       ) == f"image_id {theirs} is not one of your pictures"  # fmt: skip
        assert refusal(conn, user_a, "select imagen.create_from_image(%s, %s, 1, %s)", (missing, kind, Jsonb(settings))
                       ) == f"image_id {missing} is not one of your pictures"  # fmt: skip
    their_mask = stored_mask(conn, user_b, tmp_path)
    nowhere = f"{user_a}/masks/{uuid.uuid4()}.png"
    for path in (their_mask, nowhere):
        said = refusal(conn, user_a, "select imagen.create_from_image(%s, 'edit', 1, %s)",
                       (mine, Jsonb({"mask_path": path})))  # fmt: skip
        assert said.startswith("mask_path must be a mask you uploaded to your masks folder")
    # Straight into the table, past the RPC, too.
    said = refusal(conn, user_a, "insert into imagen.series (kind, settings, count, parent_image_id)"
                   " values ('edit', %s, 1, %s)", (Jsonb({"prompt": "p", "model": "tiny", "width": SIZE, "height": SIZE,
                                                         "mask_path": their_mask}), mine))  # fmt: skip
    assert said.startswith("mask_path must be a mask you uploaded to your masks folder")
    # Nor may a user put a mask in another user's folder.
    with pytest.raises(psycopg.Error), as_user(conn, user_a):
        conn.execute("insert into storage.objects (bucket_id, name, owner) values ('imagen', %s, %s)",
                     (f"{user_b}/masks/mine.png", user_a))  # fmt: skip


def test_upscales_and_edits_count_against_the_cap_on_unfinished_tries(conn, user_a, tmp_path):
    image_id = inserted_picture(conn, user_a)
    mask = stored_mask(conn, user_a, tmp_path)
    conn.execute("update imagen.limits set max_unfinished_tries = 6 where owner_id is null")
    make_from(conn, user_a, image_id, "upscale", 4)  # 1 + 4 unfinished
    with pytest.raises(psycopg.Error) as caught, as_user(conn, user_a):
        conn.execute("select imagen.create_from_image(%s, 'edit', 2, %s)", (image_id, Jsonb({"mask_path": mask})))
    assert caught.value.sqlstate == "PT429"
    make_from(conn, user_a, image_id, "edit", 1, mask_path=mask)  # the sixth


def test_cli_mask_checks_name_what_is_wrong_before_anything_is_uploaded():
    from imagen.config import ConfigError

    assert mask_facts(mask_png(), (SIZE, SIZE), "m.png") == {"width": SIZE, "height": SIZE, "painted": 65 * 65}
    for data, said in ((b"GIF89a", "not a PNG"), (mask_png((128, 128)), "128x128, the picture is 256x256"),
                       (mask_png(box=None), "nothing painted")):  # fmt: skip
        with pytest.raises(ConfigError, match=said):
            mask_facts(data, (SIZE, SIZE), "m.png")


# -- the tiles ----------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [256, 272, 512, 768, 1024, 1040, 2048])
@pytest.mark.parametrize(("tile", "overlap"), [(128, 16), (256, 32), (1024, 128)])
def test_tiles_cover_the_picture_with_at_least_the_stated_overlap(length, tile, overlap):
    starts = axis_starts(length, min(tile, length), overlap, 16)
    assert starts[0] == 0 and starts[-1] + min(tile, length) == length
    assert all(start % 16 == 0 for start in starts)
    assert all(min(tile, length) - (b - a) >= overlap for a, b in itertools.pairwise(starts))
    boxes = tile_boxes(length, 2 * length, (min(tile, length), min(tile, 2 * length)), 16)
    covered = np.zeros((2 * length, length), bool)
    for left, top, right, bottom in boxes:
        covered[top:bottom, left:right] = True
    assert covered.all()


# -- the tiny model -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiled_renderer(tiny_model):
    """The tiny model serving 128² pictures: an upscale's tiles are 128², 16 px overlap."""
    from imagen.rendering.render import DiffusersRenderer

    return DiffusersRenderer(tiny_model, device="cpu", sizes=((128, 128),))


def test_an_upscale_is_rendered_tile_by_tile_twice_as_wide_and_high(conn, user_a, tiled_renderer, tmp_path, db_url):
    image_id, source_path = finished_picture(conn, user_a, tmp_path, tiled_renderer, db_url)
    child = make_from(conn, user_a, image_id, "upscale", refine=30)
    steps: list[int] = []
    stats = run_burst(db_url, tiled_renderer, tmp_path, on_progress=lambda job, step: steps.append(step))
    assert stats.done == 1
    (path,) = conn.execute("select path from imagen.images where series_id = %s", (child["id"],)).fetchone()
    data = (tmp_path / path).read_bytes()
    with Image.open(io.BytesIO(data)) as upscaled, Image.open(tmp_path / source_path) as source:
        assert upscaled.size == (2 * SIZE, 2 * SIZE)
        enlarged = np.asarray(source.convert("RGB").resize(upscaled.size, Image.Resampling.LANCZOS), float)
        redrawn = np.asarray(upscaled.convert("RGB"), float)
    assert np.abs(redrawn - enlarged).mean() > 1  # re-drawn, not just stretched
    metadata = read_metadata(data)
    assert (metadata["kind"], metadata["factor"], metadata["refine"]) == ("upscale", "2", "30")
    assert metadata["source_path"] == source_path
    assert metadata["tiles"] == "5x5 tiles of 128x128 px, overlap 16 px"
    # A step counts over all 25 tiles: the try's 4 steps are reached once, at the end, in order.
    assert steps == sorted(steps) and steps[-1] == 4 and steps.count(4) <= 2 and len(steps) == 25 * 4


def test_cancel_mid_upscale_stores_nothing(conn, user_a, tiled_renderer, tmp_path, db_url):
    image_id, _ = finished_picture(conn, user_a, tmp_path, tiled_renderer, db_url)
    child = make_from(conn, user_a, image_id, "upscale")
    calls = []

    def on_progress(job, step):
        calls.append(step)
        if len(calls) == 9:  # in the third tile
            with psycopg.connect(db_url, autocommit=True) as c, as_user(c, user_a):
                c.execute("select imagen.cancel_series(%s)", (child["id"],))
        if len(calls) >= 9:
            time.sleep(0.03)  # give the heartbeat (every 20 ms) time to hear about it

    stats = run_burst(db_url, tiled_renderer, tmp_path, on_progress=on_progress)
    assert stats.cancelled == 1
    assert len(calls) < 25 * 4
    assert conn.execute("select count(*) from imagen.images where series_id = %s", (child["id"],)).fetchone() == (0,)
    assert len(list(tmp_path.rglob("*.png"))) == 1  # the source only


def test_a_worker_removes_a_deleted_edit_s_mask_from_the_storage_its_pictures_are_in(conn, user_a, renderer,
                                                                                     tmp_path, db_url):  # fmt: skip
    image_id, _ = finished_picture(conn, user_a, tmp_path, renderer, db_url)  # a local worker's picture
    mask = stored_mask(conn, user_a, tmp_path)
    edit = make_from(conn, user_a, image_id, "edit", 1, mask_path=mask)
    assert (tmp_path / mask).is_file()
    conn.execute("delete from imagen.series where id = %s", (edit["id"],))
    queue = postgres_queue(db_url, "cleaner")
    try:
        Housekeeping(queue, LocalStorage(tmp_path)).remove_deleted_objects()
    finally:
        queue.close()
    assert not (tmp_path / mask).exists()
    assert conn.execute("select count(*) from imagen.objects_to_delete").fetchone()[0] == 0


def test_an_edit_repaints_only_inside_its_mask(conn, user_a, renderer, tmp_path, db_url):
    image_id, source_path = finished_picture(conn, user_a, tmp_path, renderer, db_url)
    mask = stored_mask(conn, user_a, tmp_path)
    child = make_from(conn, user_a, image_id, "edit", 2, mask_path=mask, prompt="a red door")
    assert run_burst(db_url, renderer, tmp_path).done == 2
    with Image.open(tmp_path / source_path) as source:
        before = np.asarray(source.convert("RGB"), int)
    far = np.ones((SIZE, SIZE), bool)  # further than 1.5 x FEATHER (12 px) from the painted square
    far[96 - 13 : 160 + 14, 96 - 13 : 160 + 14] = False
    for (path,) in conn.execute("select path from imagen.images where series_id = %s", (child["id"],)).fetchall():
        with Image.open(tmp_path / path) as edited:
            after = np.asarray(edited.convert("RGB"), int)
        assert np.array_equal(after[far], before[far])
        assert np.abs(after[96:161, 96:161] - before[96:161, 96:161]).mean() > 1
        assert read_metadata((tmp_path / path).read_bytes())["mask_path"] == mask


def test_a_mask_that_lies_about_its_size_fails_its_tries_with_what_is_wrong(conn, user_a, renderer, tmp_path, db_url):
    image_id, _ = finished_picture(conn, user_a, tmp_path, renderer, db_url)
    mask = stored_mask(conn, user_a, tmp_path, data=mask_png((128, 128), (10, 10, 50, 50)))  # says 256x256
    child = make_from(conn, user_a, image_id, "edit", 1, mask_path=mask)
    assert run_burst(db_url, renderer, tmp_path).failed == 1
    assert conn.execute("select error from imagen.jobs where series_id = %s", (child["id"],)).fetchone() == (
        "mask_path is 128x128, the picture 256x256",)  # fmt: skip


def test_both_kinds_wait_their_turn_beside_normal_series(conn, user_a, user_b, tmp_path):
    """Fair turns hold with upscales and edits queued: user b's one try is served in the first
    round, before the rest of user a's, whatever kinds a's are; every try has its place."""
    image_id = inserted_picture(conn, user_a)  # its try is still queued: a's first
    mask = stored_mask(conn, user_a, tmp_path)
    make_from(conn, user_a, image_id, "upscale", 2)
    make_from(conn, user_a, image_id, "edit", 2, mask_path=mask)
    create_tiny_series(conn, user_b, n=1)
    order = conn.execute("select q.owner_id, j.kind from imagen.queue q join imagen.jobs j on j.id = q.id"
                         " where q.place is not null order by q.place").fetchall()  # fmt: skip
    assert order == [(user_a, "generate"), (user_b, "generate"), (user_a, "upscale"), (user_a, "upscale"),
                     (user_a, "edit"), (user_a, "edit")]  # fmt: skip
