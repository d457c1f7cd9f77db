"""Where the tests' PostgreSQL comes from, and per-test databases cloned from a migrated template.

Everything runs as on a hosted Supabase project: the platform's part (worker/imagen/db/bootstrap.sql)
runs as the superuser `supabase_admin`; the Supabase CLI's migrations, pgTAP and the tests log in
as `postgres`, which is no superuser. Order of preference:

1. TEST_DATABASE_URL (as `postgres`; TEST_DATABASE_ADMIN_URL for the superuser, else the same URL
   with user supabase_admin);
2. a container, when a Docker engine answers: the image built offline from
   tests/postgres-image (tests/postgres_image.py), or IMAGEN_TEST_POSTGRES_IMAGE, e.g.
   `supabase/postgres:15.8.1.085` on a machine that can pull it;
3. a throwaway local cluster (worker/imagen/dev/embedded_postgres.py), only where no engine
   answers, or when IMAGEN_TEST_LOCAL_POSTGRES=1.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from imagen.db.migrate import bootstrap
from imagen.dev.embedded_postgres import EmbeddedPostgres, free_port
from tests import postgres_image

if TYPE_CHECKING:
    from testcontainers.core.network import Network

REPO_ROOT = Path(__file__).resolve().parents[1]
SUPABASE_CLI = REPO_ROOT / "tools" / "supabase" / "node_modules" / ".bin" / "supabase"
EXPOSED_SCHEMAS = "public, graphql_public, imagen"
CONTAINER_LABEL = "imagen-test-postgres.pid"
DATABASE_ALIAS = "imagen-db"


def with_dbname(url: str, dbname: str) -> str:
    """The same server, another database, as a postgresql:// URI (psql, pg_prove and the CLI take it)."""
    p = conninfo_to_dict(url)
    auth = p.get("user", "postgres") + (f":{p['password']}" if p.get("password") else "")
    return f"postgresql://{auth}@{p.get('host', '127.0.0.1')}:{p.get('port', 5432)}/{dbname}"


def with_user(url: str, user: str) -> str:
    """The same server and database as another role (same password: the test servers share one)."""
    return with_dbname(make_conninfo(url, user=user), conninfo_to_dict(url).get("dbname", "postgres"))


def as_cli_url(url: str) -> str:
    """The Supabase CLI wants sslmode=disable against a local server."""
    return with_dbname(url, conninfo_to_dict(url)["dbname"]) + "?sslmode=disable"


def supabase(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(SUPABASE_CLI), "--workdir", str(REPO_ROOT), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "DO_NOT_TRACK": "1"},
        timeout=300,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"supabase {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@dataclass
class PostgresServer:
    url: str  # as postgres, no superuser: migrations, pgTAP, tests
    admin_url: str  # as supabase_admin: the platform's part, and what only a superuser may do
    kind: str  # "container", "local cluster" or "TEST_DATABASE_URL"
    image: str | None = None
    version: str = ""
    restart: Callable[[], None] | None = None
    # The container's own Docker network (testcontainers' Network), where the server is a container:
    # other containers join it and reach the server as DATABASE_ALIAS:5432.
    network: Network | None = None

    def describe(self) -> str:
        where = f"container of {self.image}" if self.image else self.kind
        return f"postgres: {where}; {self.version}"


def wait_ready(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def server_version(url: str) -> str:
    with psycopg.connect(url) as conn:
        return conn.execute("select version()").fetchone()[0].split(" on ")[0]


def remove_stale_containers() -> None:
    """Containers and their networks left by test runs that were killed outright (Ryuk, which
    would, can't be pulled)."""
    fmt = f'{{{{.ID}}}} {{{{.Label "{CONTAINER_LABEL}"}}}}'
    for kind in ("container", "network"):  # containers first: a network in use cannot go
        every = ["-a"] if kind == "container" else []  # stopped ones too
        listed = postgres_image.docker(
            kind, "ls", *every, "--filter", f"label={CONTAINER_LABEL}", "--format", fmt, capture_output=True, text=True
        )
        for line in listed.stdout.splitlines():
            found, _, pid = line.partition(" ")
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                postgres_image.docker(kind, "rm", *(["-f"] if every else []), found, capture_output=True)


@contextlib.contextmanager
def removed_on_exit(container) -> Iterator[None]:
    """Removes the container on any way out: normal end, failure, Ctrl-C, SIGTERM, interpreter exit."""

    def remove() -> None:
        with contextlib.suppress(Exception):
            container.get_wrapped_container().remove(force=True, v=True)

    def on_sigterm(signum, frame):
        # As Ctrl-C: pytest stops and tears its fixtures down (a SystemExit would fail one test).
        raise KeyboardInterrupt(f"signal {signum}")

    atexit.register(remove)
    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        remove()
        atexit.unregister(remove)
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def container_server(image: str) -> Iterator[PostgresServer]:
    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
    if host := postgres_image.docker_host():
        os.environ["DOCKER_HOST"] = host
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.network import Network

    remove_stale_containers()
    labels = {CONTAINER_LABEL: str(os.getpid())}
    # On a network of its own from the start: connecting the running container to one later cut, in
    # some runs, the connections the tests held through the published port.
    network = Network(docker_network_kw={"labels": labels})
    # A fixed host port, so that restarting the container keeps the URL.
    port = free_port()
    container = (
        DockerContainer(image)
        .with_env("POSTGRES_PASSWORD", "postgres")  # the supabase/postgres image's; ours trusts
        .with_network(network)
        .with_network_aliases(DATABASE_ALIAS)
        .with_kwargs(labels=labels, shm_size="256m")
    )
    # On the host's loopback only (the image trusts every connection); docker-py takes the tuple.
    container.ports["5432/tcp"] = ("127.0.0.1", port)
    with network, removed_on_exit(container):
        container.start()
        url = f"postgresql://postgres:postgres@127.0.0.1:{port}/postgres"
        wait_ready(url)

        def restart() -> None:
            container.get_wrapped_container().restart(timeout=10)
            wait_ready(url)

        yield PostgresServer(
            url=url,
            admin_url=with_user(url, "supabase_admin"),
            kind="container",
            image=image,
            version=server_version(url),
            restart=restart,
            network=network,
        )


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    if url := os.environ.get("TEST_DATABASE_URL"):
        admin = os.environ.get("TEST_DATABASE_ADMIN_URL") or with_user(url, "supabase_admin")
        yield PostgresServer(url, admin, "TEST_DATABASE_URL", version=server_version(url))
    elif not os.environ.get("IMAGEN_TEST_LOCAL_POSTGRES") and postgres_image.engine_answers():
        image = os.environ.get("IMAGEN_TEST_POSTGRES_IMAGE") or postgres_image.build()
        with container_server(image) as server:
            yield server
    else:
        with EmbeddedPostgres() as pg:
            yield PostgresServer(
                pg.url(), pg.admin_url(), "local cluster", version=server_version(pg.url()), restart=pg.restart
            )


def platform_bootstrap(admin_url: str, dbname: str) -> None:
    """The platform's part of a new project's database, as the superuser (a no-op where present)."""
    with psycopg.connect(with_dbname(admin_url, dbname), autocommit=True) as conn:
        bootstrap(conn)


def migrate_with_supabase_cli(url: str) -> None:
    """The real Supabase CLI applies supabase/migrations, as postgres (no superuser)."""
    supabase("migration", "up", "--db-url", as_cli_url(url))


class DatabaseFactory:
    """Creates a migrated template once; hands out clones of it (tens of ms each).

    Databases are created by postgres (CREATEDB, as on a hosted project) and so owned by it."""

    def __init__(self, server: PostgresServer) -> None:
        self.url = server.url
        self.admin_url = server.admin_url
        self.template = f"imagen_template_{os.getpid()}"
        self._counter = itertools.count()
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-databases")
        self._ahead: Future | None = None
        self._drops: list[Future] = []
        self._drop(self.template)
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'create database "{self.template}"')
        platform_bootstrap(self.admin_url, self.template)
        migrate_with_supabase_cli(with_dbname(self.url, self.template))
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'alter database "{self.template}" with allow_connections false')

    def create(self) -> str:
        """A fresh clone. The next one is made ahead on a thread of its own while the test runs,
        and dropped databases go on that thread too: a test waits for neither."""
        url = (self._ahead or self._background.submit(self._clone)).result()
        self._ahead = self._background.submit(self._clone)
        return url

    def _clone(self) -> str:
        name = f"t_{os.getpid()}_{next(self._counter)}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            # FILE_COPY: the template's files copied whole, not block by block through the WAL.
            conn.execute(f'create database "{name}" template "{self.template}" strategy file_copy')
        # As on a hosted project with imagen in the API; the advisors read this setting, and
        # per-database settings are not copied from a template. A custom setting on a database
        # needs a superuser: on a hosted project the platform sets it, not postgres.
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"alter database \"{name}\" set pgrst.db_schemas = '{EXPOSED_SCHEMAS}'")
        return with_dbname(self.url, name)

    def create_empty(self, prefix: str = "e") -> str:
        """A database as a new project has it: the platform's part, no migrations."""
        name = f"{prefix}_{os.getpid()}_{next(self._counter)}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'create database "{name}"')
        platform_bootstrap(self.admin_url, name)
        return with_dbname(self.url, name)

    def _drop(self, name: str) -> None:
        # As the superuser: WITH (FORCE) must end every session on it, and sessions of other roles
        # (the Realtime stand-in's, as supabase_admin like the real Realtime) may only be ended
        # by a superuser.
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')

    def drop(self, url: str) -> None:
        self._drops.append(self._background.submit(self._drop, conninfo_to_dict(url)["dbname"]))

    def close(self) -> None:
        if self._ahead is not None:
            self.drop(self._ahead.result())
        self._background.shutdown(wait=True)
        for dropped in self._drops:
            dropped.result()  # a database that could not be dropped fails the run here
        self._drop(self.template)
