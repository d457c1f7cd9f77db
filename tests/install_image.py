"""A bare Debian box after `deploy/install-worker.sh`, as an image built offline: what a GPU box is
once an operator has followed docs/deploy.md, minus systemd (tests/test_install_worker.py runs
the unit's commands the way systemd would).

The box is the tests' debootstrap base image (the one deploy/Dockerfile starts from) with a
checkout at /opt/imagen; the script runs there as root, exactly as documented, except that pip
reads the worker image's wheelhouse instead of an index (PIP_NO_INDEX, PIP_FIND_LINKS: torch's
CPU build, not CUDA) and the script's apt-get reaches the Debian archive as deploy/Dockerfile's
does. The tag is a hash of the script's inputs, so an unchanged tree is a lookup.

The script runs twice, as an operator runs it: first on a checkout of what the install itself
depends on (packaging, deploy/, the package's root: apt, the user, the folders, the venv with
torch and every dependency, the env file, the unit: 3.7 minutes on this 2-core machine, 8.7
while others load it; cached by the engine while those files stay the same), then again on the
whole current checkout, as docs/deploy.md's upgrade does (`git pull`, run the script again:
20 s). A change to the worker's source or the README rebuilds only the second run.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

from tests import postgres_image, worker_image

REPO_ROOT = Path(__file__).resolve().parents[1]
IMAGE_NAME = "imagen-install-test"
# The checkout the script is run from: the product's source, as in the worker image, and deploy/.
DEPLOY_FILES = ("deploy/install-worker.sh", "deploy/imagen-worker.service", "deploy/worker.env.example")
# What the first run installs from: everything `pip install /opt/imagen` needs but the modules, and
# a README.md of one line (pyproject.toml names it; its words change often and install nothing).
FIRST_INSTALL = ("pyproject.toml", "worker/imagen/__init__.py", *DEPLOY_FILES)
FIRST_README = b"# Imagen\n"
# pip builds `pip install /opt/imagen` in an isolated environment that needs the build backend.
BUILD_BACKEND = "setuptools>=68"

DOCKERFILE = f"""\
FROM {postgres_image.BASE_IMAGE}
COPY wheels/ /wheels/
ENV PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheels
COPY first/ /opt/imagen/
RUN /opt/imagen/deploy/install-worker.sh
COPY checkout/ /opt/imagen/
RUN /opt/imagen/deploy/install-worker.sh
"""


def checkout_files() -> list[tuple[str, Path]]:
    deploy = [(name, REPO_ROOT / name) for name in DEPLOY_FILES]
    return [*worker_image.source_files(), *deploy]


def build_backend_wheels() -> Path:
    """The setuptools wheel pip's isolated build needs, fetched once by this machine's pip."""
    folder = worker_image.WHEELS_ROOT / f"build-backend-{postgres_image.digest(BUILD_BACKEND.encode())}"
    if not any(folder.glob("setuptools-*.whl")):
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(folder), BUILD_BACKEND],
            check=True, timeout=300,
        )  # fmt: skip
    return folder


def image_tag() -> str:
    first = [FIRST_README, "\n".join(FIRST_INSTALL).encode()]
    parts = [DOCKERFILE.encode(), worker_image.requirements_text().encode(), BUILD_BACKEND.encode(), *first]
    for name, path in checkout_files():
        parts += [name.encode(), path.readlink().as_posix().encode() if path.is_symlink() else path.read_bytes()]
    return f"{IMAGE_NAME}:{postgres_image.digest(*parts)}"


def write_context(out) -> None:
    wheel_folders = [worker_image.wheelhouse(), build_backend_wheels()]
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.GNU_FORMAT) as tar:
        for name, data in (("Dockerfile", DOCKERFILE.encode()), ("first/README.md", FIRST_README)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for folder in wheel_folders:
            for wheel in sorted(folder.glob("*.whl")):
                tar.add(wheel, arcname=f"wheels/{wheel.name}")
        for name, path in checkout_files():
            tar.add(path, arcname=f"checkout/{name}", recursive=False)
            if name in FIRST_INSTALL:
                tar.add(path, arcname=f"first/{name}", recursive=False)


def build(tag: str | None = None) -> str:
    """Builds the image unless present; returns its tag."""
    return postgres_image.build_image(tag or image_tag(), write_context)


if __name__ == "__main__":
    postgres_image.main("tests.install_image", build, image_tag)
