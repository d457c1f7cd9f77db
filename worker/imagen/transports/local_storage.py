"""Where pictures go with the postgres transport: a folder on local disk."""

from __future__ import annotations

import os
from pathlib import Path

from imagen.errors import NotFound


class LocalStorage:
    bucket = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self._made: set[Path] = set()  # folders known to exist: one mkdir per series, not per try

    def path_of(self, path: str) -> Path:
        relative = Path(path)
        if relative.is_absolute() or ".." in relative.parts:
            raise ValueError(f"storage path escapes the storage folder: {path}")
        return self.root / relative

    def put(self, path: str, data: bytes) -> None:
        """Written to a temporary name and renamed, so a crash never leaves half a picture."""
        full = self.path_of(path)
        if full.parent not in self._made:
            full.parent.mkdir(parents=True, exist_ok=True)
            self._made.add(full.parent)
        tmp = full.with_name(f".{full.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(full)

    def delete(self, path: str) -> None:
        self.path_of(path).unlink(missing_ok=True)

    def get(self, path: str) -> bytes:
        try:
            return self.path_of(path).read_bytes()
        except FileNotFoundError:
            raise NotFound(
                f"picture {path} is not under {self.root}: set IMAGEN_STORAGE_DIR to the folder the worker stores"
                " pictures in"
            ) from None
