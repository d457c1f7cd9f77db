"""docs/deploy.md's systemd install, followed on a bare Debian box: deploy/install-worker.sh run as
root in the tests' offline base image (tests/install_image.py), then the worker started the way
deploy/imagen-worker.service starts it. There is no systemd in a container, so the test does what
systemd would: reads User=, WorkingDirectory=, Environment=, EnvironmentFile= (with systemd's
rules) and ExecStart= from the unit, runs that command as that user with that environment, then
runs ExecStartPost= (the readiness wait on /readyz) and requires it to succeed within the start
timeout. The worker uses the postgres transport against the tests' PostgreSQL container and the
tiny model, mounted read-only where the env file says."""

from __future__ import annotations

import os
import shlex

import pytest
from psycopg.conninfo import conninfo_to_dict

from tests import install_image, systemd_files
from tests.database import CONTAINER_LABEL, DATABASE_ALIAS, REPO_ROOT, PostgresServer, removed_on_exit
from tests.test_worker_image import mounted_model  # noqa: F401 (a fixture)
from tests.workers import scalar, wait_until
from tests.world import create_tiny_series

UNIT = systemd_files.unit_sections((REPO_ROOT / "deploy" / "imagen-worker.service").read_text())
# systemd's PATH for services, and what User= adds (systemd.exec(5), "Environment variables").
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
READY_WITHIN = 180  # seconds: the unit allows 900 for a real model's download and compile


@pytest.fixture(scope="session")
def installed_image(pg_server: PostgresServer) -> str:
    if pg_server.network is None:
        pytest.skip(f"no PostgreSQL container whose network the box could join ({pg_server.describe()})")
    return install_image.build()  # scripts/setup has built it: a lookup


def service(key: str) -> str:
    return systemd_files.unit_value(UNIT, "Service", key)


def run(box, command: list[str], user: str = "root", **kwargs) -> tuple[int, str]:
    code, out = box.exec_run(command, user=user, **kwargs)
    return code, out.decode(errors="replace") if out else ""


def test_the_installed_box_has_the_user_folders_and_env_file_the_unit_names(installed_image):
    from testcontainers.core.container import DockerContainer

    box = DockerContainer(installed_image).with_command(["sleep", "infinity"])
    box.with_kwargs(labels={CONTAINER_LABEL: str(os.getpid())})
    with removed_on_exit(box):
        box.start()
        wrapped = box.get_wrapped_container()
        paths = ["/etc/imagen/worker.env", "/etc/imagen", "/var/lib/imagen/hf", "/var/lib/imagen/images"]
        code, out = run(wrapped, ["stat", "-c", "%n %a %U:%G", *paths])
        assert code == 0, out
        assert out.splitlines() == [
            "/etc/imagen/worker.env 600 root:imagen",
            "/etc/imagen 750 root:imagen",
            "/var/lib/imagen/hf 750 imagen:imagen",
            "/var/lib/imagen/images 750 imagen:imagen",
        ]
        code, out = run(wrapped, ["getent", "passwd", "imagen"])
        assert out.split(":")[5:] == ["/var/lib/imagen", "/usr/sbin/nologin\n"]
        # The unit's commands exist on the box: the venv's imagen and the readiness check's curl.
        code, out = run(wrapped, [service("ExecStart").split()[0], "--help"], user="imagen")
        assert code == 0 and "worker" in out, out
        assert run(wrapped, ["curl", "--version"])[0] == 0


def test_the_unit_s_command_serves_a_try_once_its_readiness_check_passes(
    installed_image,
    pg_server,
    conn,
    db_url,
    user_a,
    mounted_model,  # noqa: F811
):
    from testcontainers.core.container import DockerContainer

    series = create_tiny_series(conn, user_a, n=1, steps=2)
    database = f"postgresql://postgres:postgres@{DATABASE_ALIAS}:5432/{conninfo_to_dict(db_url)['dbname']}"
    box = (
        DockerContainer(installed_image)
        .with_command(["sleep", "infinity"])
        .with_network(pg_server.network)
        .with_volume_mapping(str(mounted_model), "/models/tiny", "ro")
        .with_kwargs(labels={CONTAINER_LABEL: str(os.getpid())})
    )
    with removed_on_exit(box):
        box.start()
        wrapped = box.get_wrapped_container()
        # The operator's edit: the example as installed, with this test's queue and model after it
        # (later lines win, as in systemd), written the way an editor would, as root.
        code, example = run(wrapped, ["cat", service("EnvironmentFile")])
        assert code == 0, example
        edited = example + (
            f"IMAGEN_TRANSPORT=postgres\nIMAGEN_DATABASE_URL={database}\nIMAGEN_MODEL=/models/tiny\n"
            "IMAGEN_CLAIM_MODELS=tiny\n"  # the mounted copy answers for the id the tries ask for
            "HF_HUB_OFFLINE=1\nOMP_NUM_THREADS=1\nIMAGEN_POLL_INTERVAL=0.5\n"
        )
        write = f"cat > {shlex.quote(service('EnvironmentFile'))} <<'EOF'\n{edited}EOF\n"
        assert run(wrapped, ["sh", "-c", write])[0] == 0

        # What systemd would hand the command: its PATH, the user's, Environment=, EnvironmentFile=.
        user = service("User")
        home = run(wrapped, ["getent", "passwd", user])[1].split(":")[5]
        env = {"PATH": SYSTEMD_PATH, "HOME": home, "USER": user, "LOGNAME": user, "SHELL": "/usr/sbin/nologin"}
        env |= systemd_files.environment_assignments(service("Environment"))
        env |= systemd_files.parse(run(wrapped, ["cat", service("EnvironmentFile")])[1])
        workdir = service("WorkingDirectory")
        start = systemd_files.command_line(service("ExecStart"))
        logged = ["sh", "-c", 'exec "$@" >/tmp/worker.log 2>&1', "sh", *start]
        wrapped.exec_run(logged, user=user, environment=env, workdir=workdir, detach=True)

        ready = systemd_files.command_line(service("ExecStartPost"))
        code, out = run(wrapped, ["timeout", str(READY_WITHIN), *ready], user=user, environment=env, workdir=workdir)
        log = run(wrapped, ["cat", "/tmp/worker.log"])[1][-4000:]
        assert code == 0, f"ExecStartPost did not see /readyz answer 200 within {READY_WITHIN} s:\n{out}\n{log}"
        assert "ready" in log, log

        wait_until(
            lambda: scalar(db_url, "select status = 'done' from imagen.jobs where series_id = %s", (series["id"],)),
            60,
            what="the installed worker rendering the try",
        )
        path = scalar(db_url, "select path from imagen.images where series_id = %s", (series["id"],))
        code, out = run(wrapped, ["stat", "-c", "%U", f"{env['IMAGEN_STORAGE_DIR']}/{path}"])
        assert (code, out.strip()) == (0, user), out
