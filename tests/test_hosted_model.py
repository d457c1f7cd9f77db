"""The tests' PostgreSQL is what a hosted Supabase project is, where Imagen's SQL can tell.

And the suite uses the container when a Docker engine answers: a run that quietly fell back to
the local cluster would test less than it says."""

from __future__ import annotations

import os

import psycopg
import pytest

from tests import postgres_image


def test_the_suite_used_the_container_where_docker_answers(pg_server):
    if os.environ.get("TEST_DATABASE_URL") or os.environ.get("IMAGEN_TEST_LOCAL_POSTGRES"):
        pytest.skip("a server was chosen by hand")
    if not postgres_image.engine_answers():
        pytest.skip("no Docker engine answers here: the local cluster is the documented fallback")
    assert pg_server.kind == "container", f"Docker answered, yet the suite ran on {pg_server.describe()}"


def test_tests_log_in_as_postgres_which_is_no_superuser(conn):
    row = conn.execute(
        "select current_user, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls"
        " from pg_roles where rolname = current_user"
    ).fetchone()
    assert row == ("postgres", False, True, True, True, True)


def test_postgres_may_act_as_the_api_roles(conn):
    members = {
        r[0]
        for r in conn.execute(
            "select b.rolname from pg_auth_members m join pg_roles b on b.oid = m.roleid"
            " where m.member = 'postgres'::regrole"
        )
    }
    assert {"anon", "authenticated", "service_role"} <= members
    inherit = dict(conn.execute("select rolname, rolinherit from pg_roles where rolname in ('anon', 'authenticated')"))
    assert inherit == {"anon": True, "authenticated": True}


def test_platform_schemas_belong_to_platform_roles(conn):
    owners = dict(
        conn.execute(
            "select c.oid::regclass::text, pg_get_userbyid(c.relowner) from pg_class c"
            " where c.oid in ('auth.users'::regclass, 'storage.objects'::regclass, 'storage.buckets'::regclass)"
        )
    )
    assert owners == {
        "auth.users": "supabase_auth_admin",
        "storage.objects": "supabase_storage_admin",
        "storage.buckets": "supabase_storage_admin",
    }
    schemas = dict(
        conn.execute("select nspname, pg_get_userbyid(nspowner) from pg_namespace where nspname in ('auth', 'storage')")
    )
    assert schemas == {"auth": "supabase_admin", "storage": "supabase_admin"}


def test_authenticator_has_the_hosted_timeouts(conn):
    settings = conn.execute(
        "select unnest(setconfig) from pg_db_role_setting where setrole = 'authenticator'::regrole and setdatabase = 0"
    ).fetchall()
    assert {"statement_timeout=8s", "lock_timeout=8s"} <= {r[0] for r in settings}


def test_superuser_only_things_are_refused(conn):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("alter system set work_mem = '8MB'")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("alter table auth.users add column extra int")


def test_auth_users_email_is_unique_only_through_a_partial_index(conn):
    conn.execute("insert into auth.users (id, email) values (gen_random_uuid(), 'same@example.com')")
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute("insert into auth.users (id, email) values (gen_random_uuid(), 'same@example.com')")
    # So ON CONFLICT (email) has no constraint to use.
    with pytest.raises(psycopg.errors.InvalidColumnReference):
        conn.execute(
            "insert into auth.users (id, email) values (gen_random_uuid(), 'same@example.com')"
            " on conflict (email) do nothing"
        )
