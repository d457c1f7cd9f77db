"""The real Supabase CLI against the migrated database: advisors, lint, and schema equality
between the CLI's `migration up` and `imagen db migrate`."""

from __future__ import annotations

import json

import psycopg
import pytest

from imagen.db.migrate import migrate
from tests.database import as_cli_url, supabase


def security_findings(db_url: str) -> list[dict]:
    result = supabase(
        "db",
        "advisors",
        "--db-url",
        as_cli_url(db_url),
        "--type",
        "security",
        "--level",
        "info",
        "-o",
        "json",
    )
    out = result.stdout.strip()
    return [] if not out or out.startswith("No issues") else json.loads(out)


def test_advisors_report_no_security_findings(db_url):
    # The template exposes imagen through pgrst.db_schemas, as a hosted project with it in the API.
    assert security_findings(db_url) == []


def test_advisors_would_catch_a_table_without_rls(db_url, conn):
    conn.execute("create table imagen.unprotected (x int)")
    conn.execute("grant select on imagen.unprotected to authenticated")
    assert "rls_disabled_in_public" in {f["name"] for f in security_findings(db_url)}


def test_lint_reports_no_errors_or_warnings(db_url):
    result = supabase(
        "db",
        "lint",
        "--db-url",
        as_cli_url(db_url),
        "--level",
        "warning",
        "--fail-on",
        "warning",
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No schema errors found" in result.stdout + result.stderr


def schema_diff(a: str, b: str) -> str:
    return supabase("db", "diff", "--from", as_cli_url(a), "--to", as_cli_url(b)).stdout.strip()


def test_imagen_migrate_gives_the_same_schema_as_the_supabase_cli(databases, db_url):
    own = databases.create_empty("own")
    try:
        applied = migrate(own)
        assert applied, "imagen db migrate applied nothing to an empty database"
        assert schema_diff(db_url, own) == ""
        # The diff is live: one extra column shows up.
        with psycopg.connect(own, autocommit=True) as c:
            c.execute("alter table imagen.series add column extra int")
        assert "extra" in schema_diff(db_url, own)
    finally:
        databases.drop(own)


def test_imagen_migrate_reads_the_cli_migration_history(db_url):
    # db_url was migrated by the Supabase CLI: nothing is left to apply.
    assert migrate(db_url) == []


@pytest.mark.parametrize("bad", ["20261125_short.sql", "notanumber_x.sql"])
def test_badly_named_migration_is_refused(tmp_path, db_url, bad):
    (tmp_path / bad).write_text("select 1;")
    with pytest.raises(ValueError, match=r"YYYYMMDDHHMMSS_name\.sql"):
        migrate(db_url, tmp_path)
