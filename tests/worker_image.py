"""The worker image (deploy/Dockerfile, the CPU variant), built offline.

No registry and no index is reachable from a build here, so the image installs from a wheelhouse
made on this machine: pyproject.toml's runtime dependencies, with torch pinned to the CPU build
this environment runs (scripts/setup installs it; never a CUDA build), resolved by this machine's
pip into ~/.cache/imagen/worker-wheels-<key>, where the key is a hash of that requirement list.
The tag is a hash of everything the image is built from (the Dockerfile, the requirement list,
the product's source), so a change to any of them builds a new image and an unchanged one is
reused from the engine's cache; a change to the source alone reuses the dependency layers.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

from tests import postgres_image

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO_ROOT / "deploy" / "Dockerfile"
IMAGE_NAME = "imagen-worker"
# The Python the wheels are for: Debian bookworm's python3, which the image runs.
IMAGE_PYTHON = (3, 11)
WHEELS_ROOT = Path.home() / ".cache" / "imagen"
# What the image is built from besides the wheels: the paths of the repository, as in the context.
SOURCES = ("pyproject.toml", "README.md", "worker/imagen", "supabase/migrations")
# Left out of the context: the development tools (the product never imports them) and caches.
EXCLUDED = re.compile(r"(^|/)(__pycache__|[^/]*\.egg-info)(/|$)|\.pyc$|^worker/imagen/dev(/|$)")


def requirements() -> list[str]:
    """pyproject.toml's runtime dependencies, torch pinned to the CPU build installed here."""
    torch = importlib.metadata.version("torch")
    if "+cpu" not in torch:
        raise RuntimeError(f"torch {torch} here is not a CPU build: run scripts/setup (the image must not carry CUDA)")
    dependencies = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return [f"torch=={torch}" if re.match(r"torch\b", dep) else dep for dep in dependencies]


def requirements_text() -> str:
    return "".join(f"{line}\n" for line in requirements())


def wheelhouse() -> Path:
    """The wheels the image installs, made once per requirement list."""
    if sys.version_info[:2] != IMAGE_PYTHON:
        raise RuntimeError(f"the image runs Python {IMAGE_PYTHON[0]}.{IMAGE_PYTHON[1]}: build its wheels with that one")
    text = requirements_text()
    folder = WHEELS_ROOT / f"worker-wheels-{postgres_image.digest(text.encode())}"
    if (folder / "requirements.txt").exists():
        return folder
    partial = folder.with_name(f"{folder.name}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    (partial / "requirements.in").write_text(text)
    started = time.monotonic()
    pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(partial)]
    result = subprocess.run(
        [*pip, "-r", str(partial / "requirements.in")], capture_output=True, text=True, timeout=1800
    )
    if result.returncode != 0:
        raise RuntimeError(f"pip wheel for the worker image failed:\n{result.stderr[-3000:]}")
    if cuda := sorted(p.name for p in partial.glob("nvidia_*.whl")):
        raise RuntimeError(f"CUDA wheels in the CPU image's wheelhouse: {', '.join(cuda)}")
    # Written last: a folder with requirements.txt is complete.
    (partial / "requirements.in").rename(partial / "requirements.txt")
    try:
        partial.rename(folder)
    except OSError:  # another process finished first: keep theirs
        shutil.rmtree(partial, ignore_errors=True)
    print(f"worker_image: wheelhouse {folder.name} in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return folder


def source_files() -> Iterator[tuple[str, Path]]:
    """(path in the context, path here) for the product's source; symbolic links as they are."""
    for source in SOURCES:
        top = REPO_ROOT / source
        paths = [top] if top.is_file() else sorted(top.rglob("*"))
        for path in paths:
            name = path.relative_to(REPO_ROOT).as_posix()
            if not EXCLUDED.search(name) and (path.is_symlink() or path.is_file()):
                yield name, path


def image_tag() -> str:
    parts = [DOCKERFILE.read_bytes(), requirements_text().encode()]
    for name, path in source_files():
        content = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
        parts += [name.encode(), content]
    return f"{IMAGE_NAME}:{postgres_image.digest(*parts)}"


def write_context(out, wheels: Path) -> None:
    """The build context as a tar stream: the Dockerfile, wheels/ and the source."""
    # GNU headers: the engine misreads this stream with the PAX headers Python writes by default.
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.GNU_FORMAT) as tar:
        tar.add(DOCKERFILE, arcname="Dockerfile")
        for wheel in sorted(wheels.iterdir()):
            tar.add(wheel, arcname=f"wheels/{wheel.name}")
        for name, path in source_files():
            tar.add(path, arcname=name, recursive=False)


def build(tag: str | None = None) -> str:
    """Builds the image unless present (the wheelhouse too, unless made); returns its tag."""
    return postgres_image.build_image(tag or image_tag(), lambda out: write_context(out, wheelhouse()))


if __name__ == "__main__":
    postgres_image.main("tests.worker_image", build, image_tag)
