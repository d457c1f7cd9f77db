"""The tests' PostgreSQL image, built offline, and the Docker engine that runs it.

No image registry is reachable from CI: scripts/setup makes a Debian base image with debootstrap
(`imagen-debian-base:bookworm`), then `python -m tests.postgres_image build` builds
tests/postgres-image/Dockerfile on it. The tag is a hash of what goes into the image (the
Dockerfile, platform-init.sh, worker/imagen/db/bootstrap.sql), so a change to any of them builds
a new image and an unchanged one is reused from the engine's cache.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
IMAGE_DIR = REPO_ROOT / "tests" / "postgres-image"
BOOTSTRAP_SQL = REPO_ROOT / "worker" / "imagen" / "db" / "bootstrap.sql"
BASE_IMAGE = "imagen-debian-base:bookworm"
IMAGE_NAME = "imagen-test-postgres"
# The engine scripts/setup starts when none answers (no systemd in CI).
SETUP_DOCKER_HOST = "unix:///run/imagen-docker/docker.sock"


def context_files() -> dict[str, bytes]:
    return {
        "Dockerfile": (IMAGE_DIR / "Dockerfile").read_bytes(),
        "platform-init.sh": (IMAGE_DIR / "platform-init.sh").read_bytes(),
        "bootstrap.sql": BOOTSTRAP_SQL.read_bytes(),
    }


def image_tag() -> str:
    digest = hashlib.sha256()
    for name, data in sorted(context_files().items()):
        digest.update(name.encode() + b"\0" + data + b"\0")
    return f"{IMAGE_NAME}:{digest.hexdigest()[:16]}"


def docker_host() -> str | None:
    """DOCKER_HOST if set; else setup's engine if its socket exists; else Docker's default."""
    if host := os.environ.get("DOCKER_HOST"):
        return host
    if Path(SETUP_DOCKER_HOST.removeprefix("unix://")).exists():
        return SETUP_DOCKER_HOST
    return None


def docker_env() -> dict[str, str]:
    env = dict(os.environ)
    if host := docker_host():
        env["DOCKER_HOST"] = host
    return env


def docker(*args: str, timeout: float = 30, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], env=docker_env(), timeout=timeout, check=False, **kwargs)


def engine_answers() -> bool:
    try:
        return docker("version", "--format", "{{.Server.Version}}", capture_output=True, timeout=10).returncode == 0
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False


def image_present(image: str) -> bool:
    return docker("image", "inspect", image, capture_output=True).returncode == 0


def build(tag: str | None = None) -> str:
    """Builds the image unless present; returns its tag. Needs the debootstrap base image."""
    tag = tag or image_tag()
    if image_present(tag):
        return tag
    if not image_present(BASE_IMAGE):
        raise RuntimeError(f"the base image {BASE_IMAGE} is missing: run scripts/setup")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in context_files().items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    started = time.monotonic()
    result = docker("build", "--quiet", "--tag", tag, "-", input=buf.getvalue(), capture_output=True, timeout=900)
    if result.returncode != 0:
        raise RuntimeError(f"docker build of {tag} failed:\n{result.stderr.decode(errors='replace')}")
    print(f"postgres_image: built {tag} in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return tag


if __name__ == "__main__":
    if sys.argv[1:] == ["build"]:
        print(build())
    elif sys.argv[1:] == ["tag"]:
        print(image_tag())
    else:
        sys.exit("usage: python -m tests.postgres_image build|tag")
