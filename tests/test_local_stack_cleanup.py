"""The local stack removes what it makes in the temp folder: the Storage stand-in's folder goes
when it stops (or fails to start), and one left by a run killed before it could (SIGKILL, a crashed
test process) is swept by the next stand-in. Counted in a temp folder of the test's own, so that
other runs on the machine do not count."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from imagen.dev.supabase_standin import SupabaseStandIn
from imagen.dev.supabase_standin.server import STORAGE_PREFIX
from tests.database import with_dbname


def test_the_standin_leaves_no_folder_behind_and_sweeps_those_of_killed_runs(db_url, pg_server, tmp_path, monkeypatch):
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    assert list(temp.iterdir()) == []
    # A run that made its folder and died without a word (its process is gone; the folder stays).
    made = f"from imagen.dev.temp_folders import own_temp_folder; own_temp_folder({STORAGE_PREFIX!r})"
    subprocess.run([sys.executable, "-c", made], env={**os.environ, "TMPDIR": str(temp)}, check=True)
    (killed,) = temp.iterdir()
    (killed / "imagen" / "a.png").parent.mkdir(parents=True)
    (killed / "imagen" / "a.png").write_bytes(b"\x89PNG")

    admin_url = with_dbname(pg_server.admin_url, db_url.rsplit("/", 1)[1])
    with SupabaseStandIn(db_url, admin_url=admin_url) as standin:
        assert [folder.name for folder in temp.iterdir()] == [standin.blob_root.name]  # the dead run's is gone
        assert standin.blob_root.name.startswith(f"{STORAGE_PREFIX}{os.getpid()}-")
        (standin.blob_root / "kept-while-running").write_text("x")
    assert list(temp.iterdir()) == []  # before == after: nothing of the run is left
