"""The worker image (deploy/Dockerfile, the CPU variant) as a container beside the tests' PostgreSQL
container, reaching it by its alias on a network of their own: what a GPU node runs, with the
tiny model mounted read-only and settings from the environment only."""

from __future__ import annotations

import importlib.metadata
import io
import os
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image
from psycopg.conninfo import conninfo_to_dict

from imagen.rendering.png import read_metadata
from tests import worker_image
from tests.database import CONTAINER_LABEL, DATABASE_ALIAS, REPO_ROOT, PostgresServer, removed_on_exit
from tests.workers import running_try, scalar, wait_until
from tests.world import create_tiny_series

IMAGE_USER = 10001  # USER in deploy/Dockerfile
DEPLOY = REPO_ROOT / "deploy"


@pytest.fixture(scope="session")
def image(pg_server: PostgresServer) -> str:
    if pg_server.network is None:
        pytest.skip(f"no PostgreSQL container whose network the worker could join ({pg_server.describe()})")
    return worker_image.build()  # scripts/setup has built it: a lookup


@pytest.fixture
def network(pg_server: PostgresServer):
    return pg_server.network


@pytest.fixture(scope="session")
def mounted_model(tiny_model: str, tmp_path_factory) -> Path:
    """The tiny model, readable by the image's user (safetensors writes its files 0600)."""
    folder = tmp_path_factory.mktemp("mounted") / "tiny"
    shutil.copytree(tiny_model, folder)
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return folder


@pytest.fixture
def images_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    folder.chmod(0o777)  # written by the image's user
    return folder


def worker_container(image: str, network, db_url: str, model: Path, images: Path, *args: str):
    from testcontainers.core.container import DockerContainer

    url = f"postgresql://postgres:postgres@{DATABASE_ALIAS}:5432/{conninfo_to_dict(db_url)['dbname']}"
    # Settings from the environment only; one torch thread, as for every worker the tests start
    # (conftest.py): two test processes share the cores.
    # The mounted copy answers for the model id the tries ask for, as a local FLUX copy would.
    env = {"IMAGEN_TRANSPORT": "postgres", "IMAGEN_DATABASE_URL": url, "IMAGEN_MODEL": "/models/tiny",
           "IMAGEN_CLAIM_MODELS": "tiny", "IMAGEN_POLL_INTERVAL": "0.5", "HF_HUB_OFFLINE": "1",
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    return (
        DockerContainer(image)
        .with_command(list(args))
        .with_network(network)
        .with_envs(**env)
        .with_volume_mapping(str(model), "/models/tiny", "ro")
        .with_volume_mapping(str(images), "/data/images", "rw")
        # Removed by remove_stale_containers if this run is killed outright.
        .with_kwargs(labels={CONTAINER_LABEL: str(os.getpid())})
    )


def logs(container) -> str:
    return container.get_wrapped_container().logs().decode(errors="replace")[-4000:]


def test_the_image_renders_a_series_in_burst_mode_as_a_non_root_user(
    conn, db_url, user_a, image, network, mounted_model, images_dir
):
    series = create_tiny_series(conn, user_a, n=2, steps=2)
    container = worker_container(image, network, db_url, mounted_model, images_dir, "worker", "--burst")
    with removed_on_exit(container):
        container.start()
        exit_code = container.get_wrapped_container().wait(timeout=120)["StatusCode"]
        assert exit_code == 0, logs(container)
    tries = conn.execute(
        "select j.id::text, j.status, (j.settings ->> 'seed')::bigint, i.path"
        " from imagen.jobs j join imagen.images i on i.job_id = j.id where j.series_id = %s order by j.series_idx",
        (series["id"],),
    ).fetchall()
    assert [status for _, status, _, _ in tries] == ["done", "done"]
    for job_id, _, seed, path in tries:
        picture = images_dir / path
        with Image.open(io.BytesIO(picture.read_bytes())) as img:
            assert (img.format, img.size) == ("PNG", (256, 256))
        metadata = read_metadata(picture.read_bytes())
        assert (metadata["job_id"], metadata["seed"], metadata["model"], metadata["pipeline"]) == (
            job_id,
            str(seed),
            "tiny",
            "/models/tiny",
        )
        assert picture.with_suffix(".webp").is_file()
        assert picture.stat().st_uid == IMAGE_USER  # written by the image's user, not root


def test_sigterm_to_the_container_gives_the_try_back_and_exits_cleanly(
    conn, db_url, user_a, image, network, mounted_model, images_dir
):
    create_tiny_series(conn, user_a, n=1, steps=50, size=512)  # seconds of render: the stop lands in it
    container = worker_container(image, network, db_url, mounted_model, images_dir, "worker")
    with removed_on_exit(container):
        container.start()
        job_id = wait_until(lambda: running_try(db_url), 120, what="the container rendering the try")
        wrapped = container.get_wrapped_container()
        wrapped.stop(timeout=60)  # `docker stop`: SIGTERM to PID 1, SIGKILL (exit 137) only after 60 s
        wrapped.reload()
        assert wrapped.attrs["State"]["ExitCode"] == 0, logs(container)
        assert "worker stopped" in logs(container)
    status, attempts = conn.execute("select status, attempts from imagen.jobs where id = %s", (job_id,)).fetchone()
    assert (status, attempts) == ("queued", 0)
    assert scalar(db_url, "select count(*) from imagen.images") == 0
    assert list(images_dir.rglob("*.png")) == []


def test_the_cuda_variant_differs_from_the_tested_one_only_in_its_base_and_dependencies():
    """deploy/Dockerfile.cuda cannot be built here (no registry, no GPU): what it shares with the
    CPU variant built above is checked to be the same text."""
    cpu, cuda = (DEPLOY / "Dockerfile").read_text(), (DEPLOY / "Dockerfile.cuda").read_text()
    final_stage = re.compile(r"\nFROM runtime\n.*", re.S)
    user = re.compile(r"RUN groupadd.*?\n(?! &&)", re.S)
    assert final_stage.search(cpu).group() == final_stage.search(cuda).group()
    assert user.search(cpu).group() == user.search(cuda).group()
    torch = importlib.metadata.version("torch").split("+")[0]
    assert re.search(r"ARG TORCH_VERSION=(\S+)", cuda).group(1) == torch
    # Its context (the repository root through .dockerignore) lets in what the CPU context holds.
    allowed = [line[1:] for line in (REPO_ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")]
    assert allowed == list(worker_image.SOURCES)
