"""The `imagen` commands people type, against a real database, and the demo end to end."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import psycopg
import pytest

from imagen.cli import main
from tests.workers import run_burst
from tests.world import create_tiny_series


@pytest.fixture
def cli_env(monkeypatch, db_url, tmp_path):
    monkeypatch.setenv("IMAGEN_DATABASE_URL", db_url)
    monkeypatch.setenv("IMAGEN_STORAGE_DIR", str(tmp_path / "images"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_submit_status_pick_and_sheet(cli_env, conn, user_a, renderer, db_url, capsys):
    assert main(["submit", "a kingfisher", "-n", "2", "--user", "a@example.com", "--model", "tiny",
                 "--width", "256", "--height", "256", "--seed", "5"]) == 0  # fmt: skip
    series_id = re.search(r"series (\S+): 2 tries queued", capsys.readouterr().out).group(1)

    assert main(["status", series_id]) == 0
    queued = capsys.readouterr().out
    # Places from imagen.queue; nothing has rendered yet, so no expected start is shown.
    assert "queued (#1 in queue, #1 in its owner's line)" in queued
    assert "queued (#2 in queue, #2 in its owner's line)" in queued

    run_burst(db_url, renderer, cli_env / "images")
    assert main(["status", series_id]) == 0
    assert capsys.readouterr().out.count(" done ") == 2

    assert main(["pick", series_id, "2"]) == 0
    winner = conn.execute("select j.series_idx from imagen.series s join imagen.jobs j on j.image_id = "
                          "s.selected_image_id where s.id = %s", (series_id,)).fetchone()  # fmt: skip
    assert winner == (2,)

    assert main(["sheet", series_id, "-o", str(cli_env / "sheet.png")]) == 0
    from PIL import Image

    with Image.open(cli_env / "sheet.png") as sheet:
        assert sheet.size == (2 * 256, 256 + 22)

    assert main(["status"]) == 0
    assert series_id in capsys.readouterr().out

    # More like try 2: a child series that knows its parent picture (rendering it: test_worker).
    assert main(["vary", series_id, "2", "-n", "3", "--strength", "60"]) == 0
    out = capsys.readouterr().out
    child_id = re.search(r"series (\S+): 3 variations of try 2 queued \(strength 60 %\)", out).group(1)
    parent = conn.execute("select s.count, j.series_idx from imagen.series s join imagen.jobs j"
                          " on j.image_id = s.parent_image_id where s.id = %s", (child_id,)).fetchone()  # fmt: skip
    assert parent == (3, 2)
    assert main(["vary", series_id, "2", "--strength", "99"]) == 1
    assert "strength must be between 5 and 95, got 99" in capsys.readouterr().err
    # Left out, n and strength are the database's defaults (imagen.settings_rules).
    assert main(["vary", series_id, "2"]) == 0
    n, strength = conn.execute("select max(default_value) filter (where field = 'n'),"
                               " max(default_value) filter (where field = 'strength') from imagen.settings_rules()"
                               ).fetchone()  # fmt: skip
    assert f": {n} variations of try 2 queued (strength {strength} %)" in capsys.readouterr().out


def test_the_readme_path_runs_on_a_fresh_database_after_users_add(cli_env, conn, capsys):
    assert main(["submit", "x", "--user", "me@example.com"]) == 2  # nobody to submit as yet
    assert main(["users", "add", "me@example.com"]) == 0
    assert main(["users", "add", "me@example.com"]) == 0  # again: the same user, not a second one
    assert conn.execute("select count(*) from auth.users where email = 'me@example.com'").fetchone()[0] == 1
    assert main(["submit", "a red fox in snow", "-n", "4", "--user", "me@example.com"]) == 0
    assert "4 tries queued" in capsys.readouterr().out
    assert main(["users", "add", "not-an-address"]) == 2
    assert "'not-an-address' is not an email address" in capsys.readouterr().err


def test_users_add_refuses_a_database_on_another_host():
    from imagen.config import ConfigError
    from imagen.console.users import add_local_user

    class RemoteConnection:  # what psycopg reports for a hosted project's database
        class info:
            host = "db.abcdefghijklmnop.supabase.co"

    with pytest.raises(ConfigError, match=r"local database only .* sign up in the web app"):
        add_local_user(RemoteConnection(), "me@example.com")


def test_unknown_user_and_series_are_clear_errors(cli_env, capsys):
    assert main(["submit", "x", "--user", "nobody@example.com"]) == 2
    assert "nobody@example.com" in capsys.readouterr().err
    assert main(["pick", "00000000-0000-0000-0000-000000000000", "1"]) == 2
    assert "not found" in capsys.readouterr().err


def test_an_error_quoting_what_was_typed_reaches_the_terminal_escaped(cli_env, capsys):
    forged = "nobody\x1b]0;owned\x07\nimagen: all good"
    assert main(["submit", "x", "--user", forged]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err
    assert err.count("\n") == 1 and "nobody\\x1b]0;owned\\x07\\nimagen: all good" in err  # one line, as typed


def test_bad_input_through_the_cli_names_the_field(cli_env, user_a, capsys):
    assert main(["submit", "x", "-n", "11", "--user", "a@example.com"]) == 1
    assert "n must be between 1 and 10" in capsys.readouterr().err


def test_the_cap_through_the_cli_says_how_many_and_what_to_do(cli_env, conn, user_a, capsys):
    conn.execute("insert into imagen.limits (owner_id, max_unfinished_tries) values (%s, 3)", (user_a,))
    assert main(["submit", "x", "-n", "2", "--user", "a@example.com"]) == 0
    assert main(["submit", "x", "-n", "2", "--user", "a@example.com"]) == 75  # EX_TEMPFAIL: try again later
    err = capsys.readouterr().err
    assert "you have 2 queued or running and asked for 2 more, the limit is 3" in err
    assert "wait for some to finish, or cancel some" in err


def test_demo_renders_a_series_end_to_end_on_its_embedded_default_whatever_the_environment_says(tmp_path):
    # A worker box's environment: the supabase transport and a production database. The demo
    # must touch neither (the Supabase URL and the database URL here lead nowhere).
    worker_box = {"IMAGEN_TRANSPORT": "supabase", "SUPABASE_URL": "http://127.0.0.1:9",
                  "SUPABASE_SERVICE_ROLE_KEY": "not-a-key", "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/prod",
                  "IMAGEN_STORAGE_DIR": str(tmp_path / "production-images")}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "imagen.cli", "demo", "-n", "3", "--out", str(tmp_path / "demo")],
        env={**os.environ, **worker_box, "HF_HUB_OFFLINE": "1", "IMAGEN_MODEL": "tiny"}, cwd=tmp_path,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "the flat gallery shows 1 of 4 pictures" in result.stdout
    assert (tmp_path / "demo" / "sheet.png").is_file()
    assert len(list((tmp_path / "demo" / "images").rglob("*.png"))) == 4
    assert not (tmp_path / "production-images").exists()


@pytest.mark.parametrize("command", [["status", "abc"], ["pick", "abc", "1"], ["sheet", "abc"], ["vary", "0f6c", "1"]])
def test_a_malformed_series_id_is_named_in_every_command_that_takes_one(cli_env, capsys, command):
    assert main(command) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"imagen: series id must be a UUID like 0f6c2b1e-8d3a-4c5f-9e7b-2a1d4c6e8f90, got {command[1]!r}"


def test_an_unmigrated_database_says_what_to_run(databases, monkeypatch, tmp_path, capsys):
    empty = databases.create_empty()
    monkeypatch.setenv("IMAGEN_DATABASE_URL", empty)
    monkeypatch.chdir(tmp_path)
    try:
        assert main(["status"]) == 2
    finally:
        databases.drop(empty)
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "does not exist: the database is not migrated" in err
    assert "`supabase db push`" in err and "`imagen db migrate`" in err


def test_the_picture_folder_is_the_same_from_any_folder_and_a_missing_picture_is_one_line(
    cli_env, conn, user_a, renderer, db_url, monkeypatch, tmp_path, capsys
):
    monkeypatch.delenv("IMAGEN_STORAGE_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    from imagen.config import load_settings

    here = load_settings().storage_dir
    (tmp_path / "another").mkdir()
    monkeypatch.chdir(tmp_path / "another")
    assert load_settings().storage_dir == here == tmp_path / "data" / "imagen" / "images"
    series = create_tiny_series(conn, user_a, n=1)
    run_burst(db_url, renderer, tmp_path / "elsewhere")  # a worker that stored its pictures elsewhere
    assert main(["sheet", series["id"], "-o", str(tmp_path / "sheet.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("imagen: picture ") and f"is not under {here}: set IMAGEN_STORAGE_DIR" in err


def make_tries_wait(conn, seconds: int) -> None:
    ago = "now() - make_interval(secs => %(s)s)"
    conn.execute(f"update imagen.jobs set queued_at = {ago}, run_after = {ago} where status = 'queued'", {"s": seconds})


def test_status_says_when_no_worker_seems_to_be_running(cli_env, conn, user_a, capsys):
    series = create_tiny_series(conn, user_a, n=2)
    assert main(["status", series["id"]]) == 0
    assert "no worker seems to be running" not in capsys.readouterr().out  # just queued: nothing to say yet
    make_tries_wait(conn, 45)
    assert main(["status", series["id"]]) == 0
    out = capsys.readouterr().out
    assert "no worker seems to be running: tries have waited 45 s to be claimed and no try has ever started" in out
    assert "starts in" not in out  # no estimate holds without a worker
    # A try held under a live lease: a worker is there, busy.
    conn.execute("update imagen.jobs set status = 'running', leased_by = 'w', lease_expires_at = now() + interval"
                 " '1 minute', started_at = now() - interval '40 seconds' where series_idx = 1")  # fmt: skip
    assert main(["status"]) == 0
    assert "no worker" not in capsys.readouterr().out


def test_submit_wait_says_when_no_worker_claims_and_keeps_waiting(cli_env, conn, user_a, renderer, db_url, capsys):
    import threading

    from imagen.console.progress_feed import NotifyFeed
    from imagen.console.series import watch_series
    from tests.workers import wait_until

    series = create_tiny_series(conn, user_a, n=1)
    feed, watching = NotifyFeed(db_url, series["id"]), psycopg.connect(db_url, autocommit=True)
    # Claimable for a second, with no worker: said after half a second of it.
    watcher = threading.Thread(target=watch_series, args=(watching, series["id"], feed, 0.5))
    try:
        make_tries_wait(conn, 1)
        watcher.start()
        wait_until(lambda: "no worker seems to be running" in capsys.readouterr().err, 30, what="the notice")
        assert watcher.is_alive()  # still waiting
        run_burst(db_url, renderer, cli_env / "images")
        watcher.join(timeout=30)
        assert not watcher.is_alive()
    finally:
        feed.close()
        watching.close()
