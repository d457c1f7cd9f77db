"""Pieces the tests and the benchmarks both use to drive a worker (dev only): the environment of an
`imagen worker` process on the postgres transport, starting one as a script's `cmd &` would, and a
storage that calls back as a picture is stored (to act at that moment)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from imagen.transports.local_storage import LocalStorage


def postgres_worker_env(db_url: str, model: str, storage_dir: Path, **settings: object) -> dict:
    """This process's environment plus the worker's settings (IMAGEN_<NAME> for each of `settings`)."""
    env = {**os.environ, "IMAGEN_TRANSPORT": "postgres", "IMAGEN_DATABASE_URL": db_url, "IMAGEN_MODEL": model,
           "IMAGEN_STORAGE_DIR": str(storage_dir), "HF_HUB_OFFLINE": "1",
           # One tiny pipeline renders every try, whatever model it asks for.
           "IMAGEN_CLAIM_MODELS": "*"}  # fmt: skip
    env.update({f"IMAGEN_{k.upper()}": str(v) for k, v in settings.items()})
    return env


def ignore_sigint() -> None:
    """A Popen preexec_fn: the child starts as a non-interactive shell's `cmd &` starts it, with
    SIGINT ignored (as CI, nohup and some supervisors start services)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def start_worker(env: dict, *args: str, log_path: Path, sigint_ignored: bool = False) -> subprocess.Popen:
    """`imagen worker ARGS` with its output appended to log_path."""
    with open(log_path, "ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "imagen.cli", "worker", *args], env=env, stdout=out, stderr=subprocess.STDOUT,
            preexec_fn=ignore_sigint if sigint_ignored else None,
        )  # fmt: skip


class HookedStorage(LocalStorage):
    """LocalStorage that calls on_put just before it writes a picture."""

    def __init__(self, root: Path, on_put: Callable[[], object]) -> None:
        super().__init__(root)
        self.on_put = on_put

    def put(self, path: str, data: bytes) -> None:
        self.on_put()
        super().put(path, data)
