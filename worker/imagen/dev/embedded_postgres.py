"""A throwaway PostgreSQL cluster from the machine's own binaries.

Used by the demo, and by the tests on a machine without Docker. Made as a hosted Supabase project
is: the cluster's superuser is `supabase_admin` (the platform's), which runs the platform
bootstrap (worker/imagen/db/bootstrap.sql, the same file the tests' image runs); `url()` logs in
as `postgres`, which is no superuser. tests/postgres-image does the same in a container.

initdb and postgres refuse to run as root, so when started as root the server binaries run as
the `postgres` OS user, in a data folder under /tmp that this module creates and chowns to it.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from imagen.db.migrate import platform_bootstrap
from imagen.signals import die_with_parent

SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "max_connections": "200",
    "wal_level": "logical",
    "max_replication_slots": "10",
    "max_wal_senders": "10",
    "shared_buffers": "64MB",
}


# The cluster's superuser, named as the platform's; only the platform's part logs in as it.
SUPERUSER = "supabase_admin"


class EmbeddedPostgresError(RuntimeError):
    pass


def find_bin_dir() -> Path:
    """The newest installed PostgreSQL server binaries (PG_BIN_DIR overrides)."""
    if override := os.environ.get("PG_BIN_DIR"):
        return Path(override)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise EmbeddedPostgresError("no PostgreSQL server binaries found: install postgresql-15 or set DATABASE_URL")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class EmbeddedPostgres:
    """`with EmbeddedPostgres() as pg: pg.url(...)` — a fresh cluster, removed on exit; or, with
    keep_in, a cluster in that folder, made on first use, started again on the next, kept on exit."""

    durable: bool = False
    keep_in: Path | None = None
    bin_dir: Path = field(default_factory=find_bin_dir)
    port: int = field(default_factory=free_port)
    data_dir: Path | None = None

    server: subprocess.Popen | None = field(default=None, repr=False)

    @staticmethod
    def _owner() -> dict:
        """Popen arguments that run a server binary as `postgres` when we are root."""
        if os.geteuid() != 0:
            return {}
        user = pwd.getpwnam("postgres")
        return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    def _run_as_owner(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(args, capture_output=True, text=True, **self._owner())
        if check and result.returncode != 0:
            raise EmbeddedPostgresError(f"{Path(args[0]).name} failed: {result.stderr.strip()}")
        return result

    def start(self) -> EmbeddedPostgres:
        if self.keep_in is not None:
            self.data_dir = self.keep_in.absolute()
            self.data_dir.mkdir(parents=True, exist_ok=True)
        else:
            self.data_dir = Path(tempfile.mkdtemp(prefix="imagen-pg-", dir="/tmp"))
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.data_dir, user.pw_uid, user.pw_gid)
        if not (self.data_dir / "data" / "PG_VERSION").exists():
            self._run_as_owner(
                str(self.bin_dir / "initdb"),
                "-D", str(self.data_dir / "data"),
                "-U", SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            )  # fmt: skip
        settings = dict(SERVER_SETTINGS, port=str(self.port))
        if not (self.durable or self.keep_in is not None):
            # Throwaway data: skip the fsyncs that dominate small transactions. synchronous_commit
            # stays on (cheap without fsync) so logical decoding sees a commit at once.
            settings.update(fsync="off", full_page_writes="off")
        # Written whole at every start: a kept cluster gets this run's port.
        with open(self.data_dir / "data" / "postgresql.auto.conf", "w") as conf:
            conf.write("# Written by imagen.dev.embedded_postgres at each start.\n")
            for key, value in settings.items():
                conf.write(f"{key} = '{value}'\n")
        self._start_server()
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            platform_bootstrap(conn)
        return self

    def _start_server(self, timeout: float = 30) -> None:
        """The postmaster as our own child (not daemonized by pg_ctl), told to shut down at once
        if we die, SIGKILL included: a throwaway server never outlives the demo or the tests. In a
        process group of its own, so a terminal's Ctrl-C reaches us, and we stop it last."""
        assert self.data_dir is not None
        with open(self.data_dir / "server.log", "ab") as log:
            self.server = subprocess.Popen(
                [str(self.bin_dir / "postgres"), "-D", str(self.data_dir / "data")], stdout=log, stderr=log,
                stdin=subprocess.DEVNULL, preexec_fn=die_with_parent(signal.SIGQUIT), **self._owner(),
                process_group=0,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.admin_url(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self.server.poll() is not None or time.monotonic() > deadline:
                    log_tail = (self.data_dir / "server.log").read_text(errors="replace")[-2000:]
                    self._stop_server(signal.SIGQUIT)
                    raise EmbeddedPostgresError(f"postgres did not start: {log_tail.strip()}") from None
                time.sleep(0.05)  # polling a starting server: there is nothing to wait on

    def _stop_server(self, how: int) -> None:
        """SIGINT: PostgreSQL's fast shutdown; SIGQUIT: immediate (throwaway data)."""
        if self.server is None:
            return
        if self.server.poll() is None:
            self.server.send_signal(how)
        try:
            self.server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait()
        self.server = None

    def restart(self) -> None:
        self._stop_server(signal.SIGINT)
        self._start_server()

    def stop(self) -> None:
        if self.data_dir is None:
            return
        if self.keep_in is not None:
            self._stop_server(signal.SIGINT)  # a clean shutdown: the data stays for the next run
        else:
            self._stop_server(signal.SIGQUIT)
            shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir = None

    def url(self, dbname: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    def admin_url(self, dbname: str = "postgres") -> str:
        """The superuser, for what only the platform does (bootstrap, ALTER SYSTEM, ...)."""
        return self.url(dbname, SUPERUSER)

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
