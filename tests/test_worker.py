"""The worker in this process, on a real database with the tiny FLUX pipeline."""

from __future__ import annotations

import json
import threading
import time
import uuid

import numpy as np
import psycopg
import pytest
import torch
from PIL import Image

from imagen.console.users import as_user
from imagen.rendering.png import encode_png, job_metadata, read_metadata
from imagen.rendering.render import DiffusersRenderer
from imagen.rendering.thumbnail import THUMB_BYTES, THUMB_SIDE, thumbnail_path
from tests.workers import run_burst, wait_until
from tests.world import create_tiny_series, make_job


def submit_solo(conn, user) -> uuid.UUID:
    with as_user(conn, user):
        return conn.execute(
            """select id from imagen.submit_job('a gull', '{"model": "tiny", "width": 256, "height": 256}')"""
        ).fetchone()[0]


def rows(conn, sql, params=()):
    return conn.execute(sql, params).fetchall()


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_series_try_produces_image_with_the_same_series_id(conn, user_a, renderer, tmp_path, db_url):
    series = create_tiny_series(conn, user_a, n=1)
    run_burst(db_url, renderer, tmp_path)
    assert rows(conn, "select series_id::text from imagen.images") == [(series["id"],)]


def test_solo_job_leaves_series_id_null(conn, user_a, renderer, tmp_path, db_url):
    job_id = submit_solo(conn, user_a)
    run_burst(db_url, renderer, tmp_path)
    assert rows(conn, "select job_id, series_id from imagen.images") == [(job_id, None)]
    assert (tmp_path / str(user_a) / "solo" / f"{job_id}.png").is_file()


def test_series_of_three_end_to_end(conn, user_a, renderer, tmp_path, db_url):
    series = create_tiny_series(conn, user_a, n=3)
    stats = run_burst(db_url, renderer, tmp_path)
    assert stats.done == 3
    images = rows(conn, "select id, series_id::text, path from imagen.images order by path")
    assert [s for _, s, _ in images] == [series["id"]] * 3
    jobs = rows(conn, "select status, image_id is not null from imagen.jobs where series_id = %s", (series["id"],))
    assert jobs == [("done", True)] * 3
    for _, _, path in images:
        assert path.startswith(f"{user_a}/{series['id']}/")
        assert (tmp_path / path).is_file()
        # The thumbnail the screens load, beside the PNG: WebP, small, the picture's shape.
        with Image.open(tmp_path / thumbnail_path(path)) as thumb, Image.open(tmp_path / path) as full:
            assert thumb.format == "WEBP"
            assert max(thumb.size) <= THUMB_SIDE
            assert thumb.width / thumb.height == pytest.approx(full.width / full.height, rel=0.02)
        assert (tmp_path / thumbnail_path(path)).stat().st_size <= THUMB_BYTES
    with as_user(conn, user_a):
        assert rows(conn, "select id from imagen.images where series_id is null") == []
        conn.execute("select imagen.select_image(%s, %s)", (series["id"], images[0][0]))
    with pytest.raises(psycopg.Error) as err, as_user(conn, user_a):
        conn.execute("select imagen.select_image(%s, %s)", (series["id"], uuid.uuid4()))
    assert err.value.sqlstate == "22023"
    assert rows(conn, "select selected_image_id from imagen.series") == [(images[0][0],)]


def test_same_seed_gives_the_same_picture(renderer):
    a = pixels(renderer.render(make_job(7)))
    b = pixels(renderer.render(make_job(7)))
    assert np.abs(a - b).max() <= 1


def test_different_seeds_give_different_pictures(renderer):
    a = pixels(renderer.render(make_job(7)))
    b = pixels(renderer.render(make_job(8)))
    assert np.abs(a - b).mean() > 5


def test_png_metadata_round_trips(renderer):
    job = make_job(1234, series_id=uuid.uuid4(), series_idx=3, prompt="ein Fuchs im Schnee — 狐", style="ink")
    data = encode_png(renderer.render(job), job_metadata(job, "tiny"))
    meta = read_metadata(data)
    assert json.loads(meta.pop("settings")) == dict(job.settings)  # the value whole
    assert meta == {
        "prompt": job.prompt, "style": "ink", "seed": "1234", "steps": "4", "width": "256", "height": "256",
        "model": "tiny", "series_id": str(job.series_id), "series_idx": "3", "job_id": str(job.id),
        "kind": "generate", "pipeline": "tiny",
    }  # fmt: skip


@pytest.mark.parametrize(("width", "height"), [(250, 256), (256, 264), (0, 256)])
def test_sizes_are_validated_not_rounded(renderer, width, height):
    with pytest.raises(ValueError, match=r"width|height"):
        renderer.render(make_job(1, width=width, height=height))


def test_cancel_while_rendering_stores_nothing(conn, user_a, renderer, tmp_path, db_url):
    series = create_tiny_series(conn, user_a, n=1, steps=40)

    def on_progress(job, step):
        if step == 2:
            with psycopg.connect(db_url, autocommit=True) as c, as_user(c, user_a):
                c.execute("select imagen.cancel_series(%s)", (series["id"],))
        if step >= 2:
            time.sleep(0.03)  # give the heartbeat (every 20 ms) time to hear about it

    stats = run_burst(db_url, renderer, tmp_path, on_progress=on_progress)
    assert stats.cancelled == 1
    assert rows(conn, "select status, progress < (settings->>'steps')::int from imagen.jobs") == [("cancelled", True)]
    assert rows(conn, "select count(*) from imagen.images") == [(0,)]
    assert list(tmp_path.rglob("*.png")) == []


class FailingRenderer:
    """The tiny renderer, except that try 2 always raises."""

    def __init__(self, inner: DiffusersRenderer) -> None:
        self.inner = inner
        self.model, self.device = inner.model, inner.device

    def render(self, job, on_step=None):
        if job.series_idx == 2:
            raise RuntimeError("injected failure: CUDA out of memory")
        return self.inner.render(job, on_step)


def test_render_failure_is_retried_then_failed_and_the_series_carries_on(conn, user_a, renderer, tmp_path, db_url):
    series = create_tiny_series(conn, user_a, n=3)
    stats = run_burst(db_url, FailingRenderer(renderer), tmp_path)
    jobs = rows(
        conn, "select series_idx, status, attempts, error from imagen.jobs where series_id = %s order by 1",
        (series["id"],),
    )  # fmt: skip
    assert [(i, s) for i, s, _, _ in jobs] == [(1, "done"), (2, "failed"), (3, "done")]
    assert jobs[1][2] == 3
    # Its owner reads what went wrong, not the raw text (which stays in the worker's log).
    assert jobs[1][3] == "the render ran out of GPU memory"
    assert (stats.done, stats.failed) == (2, 1)


def test_model_is_loaded_once_for_a_whole_series(monkeypatch, conn, user_a, tiny_model, tmp_path, db_url):
    from diffusers import DiffusionPipeline

    loads = []
    original = DiffusionPipeline.from_pretrained.__func__

    def counting(cls, *args, **kwargs):
        loads.append(args[0])
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(DiffusionPipeline, "from_pretrained", classmethod(counting))
    create_tiny_series(conn, user_a, n=5)
    stats = run_burst(db_url, DiffusersRenderer(tiny_model, device="cpu"), tmp_path)
    assert stats.done == 5
    assert loads == [tiny_model]


def test_finishing_overlaps_the_next_render(conn, user_a, renderer, tmp_path, db_url):
    """While try N is stored and completed, try N+1 is already rendering."""
    create_tiny_series(conn, user_a, n=3)
    rendering = threading.Event()
    overlapped = []

    class SlowStorage:
        bucket = "local"

        def put(self, path, data):
            overlapped.append(rendering.wait(timeout=5))

        def delete(self, path):
            pass

    def on_progress(job, step):
        rendering.set()

    from imagen.loop.worker import Worker
    from imagen.transports import postgres_queue

    queue = postgres_queue(db_url, "overlap", retry_backoff_seconds=0.01)
    try:
        worker = Worker(queue, SlowStorage(), renderer, poll_interval=0.1, on_progress=on_progress, overlap_io=True)
        worker.run(burst=True)
    finally:
        queue.close()
    assert overlapped[:2] == [True, True]


def test_shared_prompt_embeddings_give_the_same_pictures(tiny_model, renderer):
    unshared = DiffusersRenderer(tiny_model, device="cpu", share_prompt_embeddings=False)
    for seed in (3, 4):  # the second try reuses the first one's embeddings
        a = pixels(renderer.render(make_job(seed, style="ink")))
        b = pixels(unshared.render(make_job(seed, style="ink")))
        assert np.abs(a - b).max() <= 1
    assert renderer._prompt_cache is not None and renderer._prompt_cache[0] == "a red fox, ink"


def test_overlapped_finishing_gives_the_same_result(conn, user_a, renderer, tmp_path, db_url):
    create_tiny_series(conn, user_a, n=3)
    stats = run_burst(db_url, renderer, tmp_path, overlap_io=True)
    assert stats.done == 3
    assert rows(conn, "select count(*) from imagen.images") == [(3,)]
    assert len(list(tmp_path.rglob("*.png"))) == 3


def test_overlap_is_chosen_from_the_render_device(renderer):
    from bench.common import NullRenderer

    from imagen.loop.worker import Worker

    assert Worker(None, None, renderer).overlap_io is False  # CPU: the render uses every core
    assert Worker(None, None, NullRenderer()).overlap_io is True


def test_the_loop_runs_on_the_in_memory_queue(renderer, tmp_path):
    from imagen.loop.worker import Worker
    from imagen.transports.local_storage import LocalStorage
    from imagen.transports.memory import memory_queue

    series = uuid.uuid4()
    jobs = [make_job(s, series_id=series, series_idx=i, attempts=0) for i, s in enumerate((1, 2, 3), start=1)]
    queue = memory_queue(jobs, retry_backoff_seconds=0)
    stats = Worker(queue, LocalStorage(tmp_path), FailingRenderer(renderer), poll_interval=0.05).run(burst=True)
    memory = queue.connector
    assert (stats.done, stats.failed) == (2, 1)
    assert [memory.status(j.id) for j in jobs] == ["done", "failed", "done"]
    assert memory.jobs[jobs[1].id].error == "the render ran out of GPU memory"
    assert {memory.jobs[j.id].image["path"] for j in (jobs[0], jobs[2])} == {jobs[0].storage_path, jobs[2].storage_path}


def test_tiny_sdxl_renders_through_the_same_path():
    from imagen.dev.tiny_models import tiny_path

    sdxl = DiffusersRenderer(str(tiny_path("tiny-sdxl")), device="cpu")
    assert type(sdxl.pipe).__name__ == "StableDiffusionXLPipeline"
    a = pixels(sdxl.render(make_job(11)))
    b = pixels(sdxl.render(make_job(11)))
    assert a.shape == (256, 256, 3)
    assert np.abs(a - b).max() <= 1


def test_secrets_never_show_in_settings_output():
    from imagen.config import load_settings

    settings = load_settings(database_url="postgresql://imagen:hunter2@db.example/postgres",
                             supabase_service_role_key="sb-secret-key")  # fmt: skip
    shown = repr(settings) + str(settings) + str(settings.model_dump())
    assert "hunter2" not in shown and "sb-secret-key" not in shown
    assert settings.require_database_url().endswith("hunter2@db.example/postgres")


def test_a_heartbeat_slower_than_half_the_lease_is_refused_naming_both_settings():
    from imagen.config import ConfigError, load_settings

    # A heartbeat renews the lease only once less than half is left: slower beats would lose it.
    with pytest.raises(ConfigError, match=r"IMAGEN_HEARTBEAT_INTERVAL \(30 s\).*IMAGEN_LEASE_SECONDS \(60 s\)"):
        load_settings(heartbeat_interval=30, lease_seconds=60)
    assert load_settings(heartbeat_interval=29, lease_seconds=60).heartbeat_interval == 29


def running_count(db_url) -> int:
    with psycopg.connect(db_url, autocommit=True) as c:
        return c.execute("select count(*) from imagen.jobs where status = 'running'").fetchone()[0]


def test_the_next_try_is_claimed_while_one_renders(conn, user_a, renderer, tmp_path, db_url):
    create_tiny_series(conn, user_a, n=3, steps=8)
    seen = []

    def on_progress(job, step):
        if job.series_idx == 1 and step == 6:
            # Try 1 waits here, mid-render, for the claim ahead (its own thread; a busy machine may
            # not have run it yet): it must come while try 1 still renders.
            wait_until(lambda: running_count(db_url) == 2, 10, what="try 2 claimed ahead")
            seen.append(running_count(db_url))

    stats = run_burst(db_url, renderer, tmp_path, overlap_io=True, on_progress=on_progress)
    assert stats.done == 3
    assert seen == [2], "while try 1 renders, try 2 is already claimed"


def test_stopping_releases_the_current_and_the_claimed_ahead_try(conn, user_a, renderer, tmp_path, db_url):
    from imagen.loop.worker import Worker
    from imagen.transports import postgres_queue
    from imagen.transports.local_storage import LocalStorage

    create_tiny_series(conn, user_a, n=3, steps=8)
    queue = postgres_queue(db_url, "stopper")
    try:

        def on_progress(job, step):
            if job.series_idx == 1 and step == 4:
                wait_until(lambda: running_count(db_url) == 2, 10, what="try 2 claimed ahead")
                worker.stop()

        worker = Worker(queue, LocalStorage(tmp_path), renderer, poll_interval=0.1, overlap_io=True,
                        on_progress=on_progress)  # fmt: skip
        stats = worker.run()
    finally:
        queue.close()
    assert stats.released == 2
    assert rows(conn, "select status, attempts from imagen.jobs order by series_idx") == [("queued", 0)] * 3
    assert list(tmp_path.rglob("*.png")) == []


def test_a_try_cancelled_while_it_is_stored_leaves_no_file(conn, user_a, renderer, tmp_path, db_url):
    from imagen.loop.worker import Worker
    from imagen.transports import postgres_queue
    from imagen.transports.local_storage import LocalStorage

    series = create_tiny_series(conn, user_a, n=1)

    class CancellingStorage(LocalStorage):
        """Stores, then the user cancels and the heartbeat hears of it before complete_job."""

        def put(self, path, data):
            super().put(path, data)
            with psycopg.connect(db_url, autocommit=True) as c, as_user(c, user_a):
                c.execute("select imagen.cancel_series(%s)", (series["id"],))
            time.sleep(0.2)  # several heartbeats: the try is now cancelled in the database

    queue = postgres_queue(db_url, "w-cancel")
    try:
        worker = Worker(queue, CancellingStorage(tmp_path), renderer, poll_interval=0.1, heartbeat_interval=0.02)
        stats = worker.run(burst=True)
    finally:
        queue.close()
    assert stats.cancelled == 1
    assert rows(conn, "select status from imagen.jobs") == [("cancelled",)]
    assert list(tmp_path.rglob("*.png")) == []


def test_deleting_a_finished_series_removes_its_pictures_from_storage(conn, user_a, renderer, tmp_path, db_url):
    series = create_tiny_series(conn, user_a, n=2)
    run_burst(db_url, renderer, tmp_path)
    assert len(list(tmp_path.rglob("*.png"))) == 2
    with as_user(conn, user_a):
        conn.execute("delete from imagen.series where id = %s", (series["id"],))
    run_burst(db_url, renderer, tmp_path)  # an idle worker cleans up
    assert list(tmp_path.rglob("*.png")) == []
    assert rows(conn, "select count(*) from imagen.objects_to_delete") == [(0,)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_picture_is_rounded_to_8_bits_where_it_is_exactly_as_diffusers_does(dtype):
    from diffusers.image_processor import VaeImageProcessor

    from imagen.rendering.calls import to_picture

    image = torch.rand(3, 24, 40, generator=torch.Generator().manual_seed(3)).to(dtype)
    theirs = VaeImageProcessor.numpy_to_pil(VaeImageProcessor.pt_to_numpy(image[None]))[0]
    ours = to_picture(image)
    assert ours.size == (40, 24) and ours.mode == "RGB"
    assert np.array_equal(np.asarray(ours), np.asarray(theirs))


def test_a_variation_series_renders_from_its_parent_picture_with_the_resident_model(
    conn, user_a, renderer, tmp_path, db_url, monkeypatch
):
    import diffusers

    create_tiny_series(conn, user_a, n=1, seed=5)
    run_burst(db_url, renderer, tmp_path)
    parent_id, parent_path, parent_seed = conn.execute(
        "select i.id, i.path, (j.settings->>'seed')::bigint from imagen.images i join imagen.jobs j on j.id = i.job_id"
    ).fetchone()
    with as_user(conn, user_a):
        child = conn.execute("select imagen.vary_image(%s, 1, strength => 40)", (parent_id,)).fetchone()[0]
    assert (child["parent_image_id"], child["settings"]["strength"]) == (str(parent_id), 40)

    def second_load(*args, **kwargs):
        raise AssertionError("a variation loaded the model again")

    # No second model load: nothing is read from disk; the image-to-image pipeline is the resident one's parts.
    for cls in (diffusers.DiffusionPipeline, diffusers.AutoPipelineForImage2Image, diffusers.FluxImg2ImgPipeline):
        monkeypatch.setattr(cls, "from_pretrained", second_load)
    steps: list[int] = []
    stats = run_burst(db_url, renderer, tmp_path, on_progress=lambda job, step: steps.append(step))
    assert stats.done == 1
    variation = renderer.derived("image-to-image")
    assert type(variation).__name__ == "FluxImg2ImgPipeline"
    for part in ("transformer", "vae", "text_encoder", "text_encoder_2"):
        assert getattr(variation, part) is getattr(renderer.pipe, part)
    assert steps.count(4) == 1 and max(steps) == 4  # its 4 steps are the steps it rendered

    images = rows(conn, "select i.path, (j.settings->>'seed')::bigint from imagen.images i join imagen.jobs j"
                        " on j.id = i.job_id where i.series_id = %s order by i.path", (child["id"],))  # fmt: skip
    ((path, seed),) = images
    assert seed != parent_seed  # a new seed
    parent_path = tmp_path / parent_path
    with Image.open(parent_path) as parent, Image.open(tmp_path / path) as varied:
        assert varied.size == parent.size
        assert read_metadata((tmp_path / path).read_bytes())["strength"] == "40"
        # Rendered from the parent: not the picture its seed gives from the prompt alone.
        from_prompt = renderer.render(make_job(seed, prompt="a lighthouse in a storm", width=256, height=256))
        assert np.abs(pixels(varied) - pixels(from_prompt)).max() > 1
