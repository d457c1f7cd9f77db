"""Queue depth for autoscalers: imagen.queue_depth() counts the tries that want a worker (queued,
running, expired leases that will be requeued; never done, failed or cancelled ones, nor an expired
lease the next claim will end), per model too, and only the role imagen_autoscaler may call it."""

from __future__ import annotations

import psycopg
import pytest
import yaml

from imagen.console.users import acting_as, as_user
from imagen.db.autoscaler import enable_autoscaler_login
from imagen.errors import ConfigError
from tests.database import REPO_ROOT, with_user
from tests.world import as_worker, claim, complete, create_series

PASSWORD = "a-long-enough-password-for-keda"


@pytest.fixture
def scaler(db_url, conn):
    """A session as the autoscaler logs in: the role imagen_autoscaler, its password set."""
    enable_autoscaler_login(conn, PASSWORD)
    with psycopg.connect(with_user(db_url, "imagen_autoscaler"), password=PASSWORD, autocommit=True) as c:
        yield c


def depth(scaler, model: str | None = None) -> int:
    return scaler.execute("select imagen.queue_depth(%s)", (model,)).fetchone()[0]


def expire(conn, job_id, **columns) -> None:
    sets = ", ".join(f"{name} = %({name})s" for name in columns)
    with as_worker(conn):
        conn.execute(
            f"update imagen.jobs set lease_expires_at = now() - interval '1 s'{', ' + sets if sets else ''}"
            " where id = %(id)s",
            {"id": job_id, **columns},
        )


def test_counts_queued_running_and_requeueable_expired_leases_only(conn, scaler, user_a):
    series = create_series(conn, user_a, 8)
    assert depth(scaler) == 8
    done, running, retried, exhausted, cancelling, failed = (claim(conn) for _ in range(6))
    complete(conn, done)
    expire(conn, retried["id"])
    expire(conn, exhausted["id"], attempts=3)
    expire(conn, cancelling["id"], cancel_requested=True)
    with as_worker(conn):
        conn.execute("update imagen.jobs set max_attempts = 1 where id = %s", (failed["id"],))
        conn.execute("select imagen.fail_job(%s, 'w1', 'boom', 0)", (failed["id"],))
    # 2 queued, 1 running, 1 expired lease the next claim requeues; not the done, failed, or the
    # expired leases out of attempts or asked to cancel.
    assert depth(scaler) == 4
    with as_user(conn, user_a):
        conn.execute("select imagen.cancel_series(%s)", (series["id"],))
    # The queued tries are cancelled; the running one keeps its worker until it stops; the expired
    # lease, now asked to cancel, will not come back.
    assert depth(scaler) == 1
    assert (depth(scaler, running["settings"]["model"]), depth(scaler, "another model")) == (1, 0)


def test_counts_one_models_tries(conn, scaler, user_a):
    with as_worker(conn):
        conn.execute(
            "insert into imagen.jobs (owner_id, settings)"
            " select %s, jsonb_build_object('prompt', 'p', 'model', m) from unnest(array['one', 'one', 'two']) m",
            (user_a,),
        )
    assert (depth(scaler), depth(scaler, "one"), depth(scaler, "two"), depth(scaler, "three")) == (3, 2, 1, 0)


def test_no_other_role_may_call_it(conn):
    for role in ("anon", "authenticated", "service_role"):
        with acting_as(conn, role), pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select imagen.queue_depth()")


def test_the_autoscaler_reads_no_table(scaler):
    for table in ("imagen.jobs", "imagen.series", "imagen.owner_turns", "auth.users"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            scaler.execute(f"select count(*) from {table}")


def test_a_short_password_is_refused_and_nothing_changes(conn):
    before = conn.execute("select rolcanlogin from pg_roles where rolname = 'imagen_autoscaler'").fetchone()
    with pytest.raises(ConfigError, match="at least 16 characters"):
        enable_autoscaler_login(conn, "short")
    assert conn.execute("select rolcanlogin from pg_roles where rolname = 'imagen_autoscaler'").fetchone() == before


def test_the_password_is_stored_as_a_scram_verifier(pg_server, scaler):
    with psycopg.connect(pg_server.admin_url) as admin:
        stored = admin.execute("select rolpassword from pg_authid where rolname = 'imagen_autoscaler'").fetchone()[0]
    assert stored.startswith("SCRAM-SHA-256$") and PASSWORD not in stored


def test_the_scaledobjects_query_answers_one_integer_as_the_autoscaler(scaler, conn, user_a):
    manifest = (REPO_ROOT / "deploy" / "kubernetes" / "scaledobject.yaml").read_text()
    (scaled,) = [d for d in yaml.safe_load_all(manifest) if d["kind"] == "ScaledObject"]
    create_series(conn, user_a, 3)
    assert scaler.execute(scaled["spec"]["triggers"][0]["metadata"]["query"]).fetchall() == [(3,)]
