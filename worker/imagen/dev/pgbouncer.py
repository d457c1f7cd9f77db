"""Debian's PgBouncer in front of a PostgreSQL server, in transaction mode: what Supavisor is on a
hosted project's port 6543, for the tests and the fleet simulator (bench.fleet).

`with PgBouncer(server_url, pool_size=20) as bouncer: bouncer.url(dbname)` — clients log in as the
server URL's user (trust between client and PgBouncer; PgBouncer logs in to the server with the
URL's password). At most pool_size server connections a database, however many clients. PgBouncer
refuses to run as root, so as root it runs as the `postgres` OS user, in a folder under /tmp.
"""

from __future__ import annotations

import os
import pwd
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from imagen.dev.embedded_postgres import free_port
from imagen.signals import die_with_parent

BINARY = "/usr/sbin/pgbouncer"


class PgBouncerError(RuntimeError):
    pass


def _preexec_fn():
    """As many open files as the hard limit allows (thousands of clients), and gone with us."""
    die = die_with_parent(signal.SIGINT)  # made here, in the parent: it notes the parent's pid

    def preexec() -> None:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        die()

    return preexec


class PgBouncer:
    def __init__(self, server_url: str, pool_size: int = 20, max_clients: int = 10000,
                 mode: str = "transaction") -> None:  # fmt: skip
        self.server = conninfo_to_dict(server_url)
        self.pool_size = pool_size
        self.max_clients = max_clients
        self.mode = mode
        self.port = free_port()
        self.folder: Path | None = None
        self.process: subprocess.Popen | None = None

    def _config(self) -> str:
        host, port = self.server.get("host", "127.0.0.1"), self.server.get("port", "5432")
        return "\n".join([
            "[databases]",
            f"* = host={host} port={port}",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {self.port}",
            "unix_socket_dir =",
            "auth_type = trust",
            f"auth_file = {self.folder}/userlist.txt",
            f"pool_mode = {self.mode}",
            f"default_pool_size = {self.pool_size}",
            f"max_db_connections = {self.pool_size}",
            "min_pool_size = 0",
            "reserve_pool_size = 0",
            f"max_client_conn = {self.max_clients}",
            "server_lifetime = 3600",  # 0 would make every server connection single-use
            "server_idle_timeout = 0",  # kept while idle: the pool stays warm
            "ignore_startup_parameters = extra_float_digits",
            f"logfile = {self.folder}/pgbouncer.log",
            "log_connections = 0",
            "log_disconnections = 0",
            "",
        ])  # fmt: skip

    def start(self) -> PgBouncer:
        if not Path(BINARY).exists():
            raise PgBouncerError(f"no {BINARY}: install Debian's pgbouncer (scripts/setup does)")
        self.folder = Path(tempfile.mkdtemp(prefix="imagen-pgbouncer-", dir="/tmp"))
        user, password = self.server.get("user", "postgres"), self.server.get("password", "")
        (self.folder / "userlist.txt").write_text(f'"{user}" "{password}"\n')
        (self.folder / "pgbouncer.ini").write_text(self._config())
        owner = {}
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            for path in (self.folder, *self.folder.iterdir()):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            owner = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        try:
            self.process = subprocess.Popen(
                [BINARY, str(self.folder / "pgbouncer.ini")], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT, preexec_fn=_preexec_fn(), process_group=0, **owner,
            )  # fmt: skip
        except BaseException:
            self.stop()  # the folder goes too
            raise
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.url(self.server.get("dbname", "postgres")), connect_timeout=2).close()
                return
            except psycopg.OperationalError as exc:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = (self.folder / "pgbouncer.log").read_text(errors="replace")[-2000:]
                    self.stop()
                    raise PgBouncerError(f"pgbouncer did not start ({exc}): {log}") from None
                time.sleep(0.05)  # polling a starting server: there is nothing to wait on

    def url(self, dbname: str = "postgres") -> str:
        """A client URL through the pooler, as the server URL's user (no password: trust)."""
        return make_conninfo("", host="127.0.0.1", port=str(self.port), dbname=dbname,
                             user=self.server.get("user", "postgres"))  # fmt: skip

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGINT)  # PgBouncer's immediate shutdown
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
