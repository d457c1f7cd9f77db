"""Throwaway folders of the local stack that clean up after themselves, even after a run killed
before it could (SIGKILL, a crashed test process): each folder is named with the id of the
process that made it (PREFIX<pid>-<random>), and making one first removes those of the same
prefix whose process is gone."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def sweep_dead(prefix: str, parent: Path | None = None) -> list[Path]:
    """Removes the folders `prefix<pid>-…` in `parent` (the temp folder) whose process is gone;
    returns them."""
    parent = Path(parent or tempfile.gettempdir())
    pattern = re.compile(re.escape(prefix) + r"(\d+)-")
    removed = []
    for folder in parent.glob(f"{prefix}*"):
        match = pattern.match(folder.name)
        if match and folder.is_dir() and not _alive(int(match[1])):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def own_temp_folder(prefix: str) -> Path:
    """A new folder `prefix<this pid>-…` in the temp folder, after sweeping the dead runs' ones."""
    sweep_dead(prefix)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))
