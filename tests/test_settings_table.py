"""docs/settings.md is generated from imagen.config.Settings and kept current: a setting the code
reads but the table leaves out fails `just test` (imagen.dev.settings_table --check)."""

from __future__ import annotations

import pytest
from pydantic import Field

from imagen.config import Settings
from imagen.dev import settings_table


def test_the_committed_table_is_the_generated_one():
    assert settings_table.TABLE.read_text() == settings_table.render()
    assert settings_table.main(["--check"]) == 0


def test_every_setting_has_a_row_under_each_name_it_is_read_from():
    table = settings_table.TABLE.read_text()
    for name, field in Settings.model_fields.items():
        for variable in settings_table.variables(name, field):
            assert f"`{variable}`" in table, f"{variable} missing from docs/settings.md"
    assert "`SUPABASE_SERVICE_ROLE_KEY`" in table and "`IMAGEN_SIZES`" in table


def test_a_setting_missing_from_the_table_fails_the_check(tmp_path, capsys):
    class WithANewSetting(Settings):
        new_knob: int = Field(default=3, description="A knob nobody wrote down.")

    committed = tmp_path / "settings.md"
    committed.write_text(settings_table.TABLE.read_text())
    assert settings_table.main(["--check", "--output", str(committed)], settings=WithANewSetting) == 1
    err = capsys.readouterr().err
    assert "+| `IMAGEN_NEW_KNOB` | `3` | A knob nobody wrote down. |" in err
    assert "is stale" in err


def test_a_setting_without_a_description_is_refused_by_name():
    class Undescribed(Settings):
        mystery: bool = False

    with pytest.raises(ValueError, match=r"Settings\.mystery has no description"):
        settings_table.render(Undescribed)


def test_defaults_are_written_as_the_environment_would_take_them():
    table = settings_table.TABLE.read_text()
    assert "| `IMAGEN_SIZES` | `1024x1024,1248x832," in table
    assert "| `IMAGEN_POLL_INTERVAL` | `2` |" in table
    assert "| `IMAGEN_COMPILE` | `false` |" in table
    assert "| `IMAGEN_WORKER_ID` | `{hostname}-{pid}` |" in table
    assert "`.env` file in the folder it is started in" in table
