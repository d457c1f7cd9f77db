"""The tests' PostgreSQL image, built offline, and the Docker engine that runs it.

No image registry is reachable from CI: scripts/setup makes a Debian base image with debootstrap
(`imagen-debian-base:bookworm`), then `python -m tests.postgres_image build` builds
tests/postgres-image/Dockerfile on it. The tag is a hash of what goes into the image (the
Dockerfile, platform-init.sh, worker/imagen/db/bootstrap.sql), so a change to any of them builds
a new image and an unchanged one is reused from the engine's cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

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


def digest(*parts: bytes) -> str:
    """An image's tag: a hash of what it is built from, each part ended by a NUL."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part + b"\0")
    return h.hexdigest()[:16]


def image_tag() -> str:
    parts = [part for name, data in sorted(context_files().items()) for part in (name.encode(), data)]
    return f"{IMAGE_NAME}:{digest(*parts)}"


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


def build_image(tag: str, write_context: Callable[[IO[bytes]], None]) -> str:
    """Builds `tag` unless present, from the tar stream write_context writes; returns the tag.
    The images build on the debootstrap base image."""
    if image_present(tag):
        return tag
    if not image_present(BASE_IMAGE):
        raise RuntimeError(f"the base image {BASE_IMAGE} is missing: run scripts/setup")
    started = time.monotonic()
    proc = subprocess.Popen(
        ["docker", "build", "--quiet", "--tag", tag, "-"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=docker_env(),
    )  # fmt: skip
    try:
        with contextlib.suppress(BrokenPipeError):  # docker stopped reading: its error follows
            write_context(proc.stdin)
        _, err = proc.communicate(timeout=1800)  # closes stdin: the end of the context
    finally:
        if proc.poll() is None:
            proc.kill()
    if proc.returncode != 0:
        raise RuntimeError(f"docker build of {tag} failed:\n{err.decode(errors='replace')[-5000:]}")
    print(f"built {tag} in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return tag


def build(tag: str | None = None) -> str:
    """Builds the image unless present; returns its tag."""

    def write_context(out: IO[bytes]) -> None:
        with tarfile.open(fileobj=out, mode="w|") as tar:
            for name, data in context_files().items():
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))

    return build_image(tag or image_tag(), write_context)


def main(module: str, build: Callable[[], str], tag: Callable[[], str]) -> None:
    """`python -m MODULE build|tag`: builds the image (unless present), or names it; prints the tag."""
    if sys.argv[1:] == ["build"]:
        print(build())
    elif sys.argv[1:] == ["tag"]:
        print(tag())
    else:
        sys.exit(f"usage: python -m {module} build|tag")


if __name__ == "__main__":
    main("tests.postgres_image", build, image_tag)
