"""guidance, the setting added as one row of the rules (migration 20261206100000_imagen_guidance):
a decimal the database checks, that a series' tries carry, that the form offers, that `imagen
submit` and the imagine function take, that reaches the pipeline and the PNG's metadata."""

from __future__ import annotations

import json
import re

import numpy as np
import psycopg
import pytest
from psycopg.types.json import Jsonb

from imagen.cli import main
from imagen.console.users import as_user
from imagen.rendering.png import encode_png, job_metadata, read_metadata
from imagen.rendering.render import DiffusersRenderer
from tests.database import REPO_ROOT
from tests.test_settings_rules import deno_prints
from tests.world import make_job

FUNCTION = REPO_ROOT / "supabase" / "functions" / "imagine" / "validate.ts"
WEB = REPO_ROOT / "web" / "src"


def create(conn, user, settings: dict) -> dict:
    with as_user(conn, user):
        return conn.execute("select imagen.create_series('a heron', 2, %s)", (Jsonb(settings),)).fetchone()[0]


def test_the_database_takes_a_decimal_guidance_and_its_tries_carry_it(conn, user_a):
    series = create(conn, user_a, {"guidance": 3.5})
    assert series["settings"]["guidance"] == 3.5
    tries = conn.execute("select settings->'guidance' from imagen.jobs where series_id = %s", (series["id"],))
    assert [r[0] for r in tries] == [3.5, 3.5]
    assert "guidance" not in create(conn, user_a, {})["settings"]  # optional: the model's own default


@pytest.mark.parametrize(("guidance", "said"), [(20.5, "20.5"), (-0.1, "-0.1"), ("3.5", '"3.5"')])
def test_a_guidance_out_of_its_rule_is_refused_with_its_words(conn, user_a, guidance, said):
    with pytest.raises(psycopg.errors.InvalidParameterValue) as refused:
        create(conn, user_a, {"guidance": guidance})
    assert refused.value.diag.message_primary == f"guidance must be between 0 and 20, got {said}"


def test_imagen_submit_takes_a_decimal_guidance(monkeypatch, db_url, conn, user_a, capsys):
    monkeypatch.setenv("IMAGEN_DATABASE_URL", db_url)
    assert main(["submit", "a kingfisher", "-n", "1", "--user", "a@example.com", "--guidance", "2.5"]) == 0
    series_id = re.search(r"series (\S+): 1 tries queued", capsys.readouterr().out).group(1)
    said = conn.execute("select settings->'guidance' from imagen.series where id = %s", (series_id,)).fetchone()[0]
    assert said == 2.5


def test_the_imagine_function_and_the_form_take_guidance_from_the_rules():
    checked = deno_prints(
        f'import {{ checkCreateSeries }} from "{FUNCTION}";'
        ' console.log(JSON.stringify([checkCreateSeries({prompt: "x", guidance: 3.5}),'
        ' checkCreateSeries({prompt: "x", guidance: "much"})]));'
    )
    assert checked == [{"ok": True, "args": {"prompt": "x", "guidance": 3.5}},
                       {"ok": False, "error": "guidance: must be a number"}]  # fmt: skip
    form = deno_prints(
        f'import * as rules from "{WEB / "rules.ts"}";'
        " console.log(JSON.stringify(rules.formSettings().map(([name, rule]) => [name, rule.kind])));"
    )
    assert ["guidance", "decimal"] in form


def test_guidance_reaches_the_pipeline_and_the_png(tmp_path):
    """tiny SDXL has classifier-free guidance: a different guidance gives a different picture."""
    from imagen.dev.tiny_models import tiny_path

    sdxl = DiffusersRenderer(str(tiny_path("tiny-sdxl")), device="cpu")
    job = make_job(3, model="tiny-sdxl", width=256, height=256)
    low = np.asarray(sdxl.render(make_job(3, model="tiny-sdxl", guidance=1.0)), dtype=np.int16)
    high_job = make_job(3, model="tiny-sdxl", guidance=9.0)
    high = np.asarray(sdxl.render(high_job), dtype=np.int16)
    assert np.abs(low - high).mean() > 1
    metadata = read_metadata(encode_png(sdxl.render(high_job), job_metadata(high_job, "tiny-sdxl")))
    assert metadata["guidance"] == "9.0" and json.loads(metadata["settings"])["guidance"] == 9.0
    assert job.settings.get("guidance") is None
