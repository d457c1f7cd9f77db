"""Where pictures go with the postgres transport: a folder on local disk."""

from __future__ import annotations

import os
from pathlib import Path


class LocalStorage:
    bucket = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_of(self, path: str) -> Path:
        full = (self.root / path).resolve()
        if not full.is_relative_to(self.root.resolve()):
            raise ValueError(f"storage path escapes the storage folder: {path}")
        return full

    def put(self, path: str, data: bytes) -> None:
        """Written to a temporary name and renamed, so a crash never leaves half a picture."""
        full = self.path_of(path)
        full.parent.mkdir(parents=True, exist_ok=True)
        tmp = full.with_name(f".{full.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(full)

    def delete(self, path: str) -> None:
        self.path_of(path).unlink(missing_ok=True)

    def read(self, path: str) -> bytes:
        return self.path_of(path).read_bytes()
