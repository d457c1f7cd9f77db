"""Runs every pgTAP file in supabase/tests/database with pg_prove, each on a fresh database."""

from __future__ import annotations

import subprocess

import pytest

from tests.database import REPO_ROOT

PGTAP_FILES = sorted((REPO_ROOT / "supabase" / "tests" / "database").glob("*.sql"))


def test_pgtap_files_exist():
    assert PGTAP_FILES, "no pgTAP files found"


@pytest.mark.parametrize("path", PGTAP_FILES, ids=lambda p: p.name)
def test_pgtap(path, db_url):
    result = subprocess.run(
        ["pg_prove", "--verbose", "--dbname", db_url, str(path)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
