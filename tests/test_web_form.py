"""The new-series form is built from the settings rules (web/src/settings_rules.ts): every rule the
form may offer for new work (form, kinds null or with "generate") is a field, in position order,
its input taken from its kind, its label and unit from the rule; what is typed is checked by the
rule and sent as numbers (decimals as decimals) in one settings value."""

from __future__ import annotations

import json
import subprocess

import pytest
from playwright.sync_api import expect

from imagen.dev.web_stack import StaticSite, web_config
from tests.database import REPO_ROOT
from tests.test_web_app import new_page, sign_up

DENO = REPO_ROOT / ".venv" / "bin" / "deno"
SRC = REPO_ROOT / "web" / "src"


def deno_prints(script: str):
    """The one JSON value this TypeScript prints, run by Deno against the web app's sources."""
    run = subprocess.run([DENO, "eval", "--no-config", "--sloppy-imports", script], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def web_rules() -> dict[str, dict]:
    return deno_prints(f'import {{ SETTINGS_RULES }} from "{SRC / "settings_rules.ts"}";'
                       " console.log(JSON.stringify(SETTINGS_RULES));")  # fmt: skip


def offered(rules: dict[str, dict]) -> list[str]:
    """The settings the form offers, by the rules alone (prompt and n are laid out by the form)."""
    fields = [name for name, rule in rules.items() if rule["form"] and name not in ("prompt", "n")
              and (rule["kinds"] is None or "generate" in rule["kinds"]) and rule["kind"] != "picture"]  # fmt: skip
    return sorted(fields, key=lambda name: rules[name]["position"])


# A decimal setting as scripts/gen-types would write one, were the database to add it: the form
# must offer and check it with no code of its own. The tests below add it to the generated rules
# at run time (the web app reads them from that one object).
GUIDANCE = {"choices": None, "default_value": "3.5", "empty_rule": None, "form": True, "grow_rule": None,
            "kind": "decimal", "kinds": None, "label": "Guidance", "max_chars": None, "max_value": 20,
            "min_value": 0, "multiple_of": None, "part": "settings", "position": 70, "required": True,
            "rule": "guidance must be between 0 and 20", "step": 0.1, "strong_value": None, "unit": None}  # fmt: skip


def with_rules(extra: dict[str, dict], then: str):
    """What `then` (TypeScript, with rules.ts's exports in scope) prints, the `extra` rules added."""
    return deno_prints(
        f'import {{ SETTINGS_RULES }} from "{SRC / "settings_rules.ts"}";'
        f' import * as rules from "{SRC / "rules.ts"}";'
        f" Object.assign(SETTINGS_RULES, {json.dumps(extra)});"
        f" console.log(JSON.stringify({then}));"
    )


def validate(forms: list[dict], extra: dict[str, dict] | None = None) -> list[dict]:
    return with_rules(extra or {}, f"{json.dumps(forms)}.map((form) => rules.validateSeries(form))")


def test_a_decimal_setting_is_offered_with_no_form_code_of_its_own():
    offered_with_guidance = with_rules({"guidance": GUIDANCE}, "rules.formSettings().map(([name]) => name)")
    assert offered_with_guidance == offered({**web_rules(), "guidance": GUIDANCE})
    assert "guidance" in offered_with_guidance
    assert "strength" not in offered_with_guidance  # a variation's setting: kinds ["vary"]


def test_a_decimal_is_sent_as_a_decimal_and_checked_by_its_rule():
    rule = GUIDANCE
    base = {"prompt": "a heron", "n": "2", "width": "512", "height": "512", "steps": "4", "seed": "", "style": ""}
    over = rule["max_value"] + rule["step"]
    good, bad, words = validate(
        [{**base, "guidance": "2.5"}, {**base, "guidance": str(over)}, {**base, "guidance": "x"}],
        {"guidance": GUIDANCE},
    )
    assert good["problems"] == {}
    assert good["args"] == {"prompt": "a heron", "n": 2,
                            "settings": {"width": 512, "height": 512, "steps": 4, "guidance": 2.5}}  # fmt: skip
    assert bad["problems"] == {"guidance": f"{rule['rule']}, got {over}"}
    assert words["problems"] == {"guidance": f"{rule['rule']}, got x"}


def test_a_setting_left_blank_takes_its_default_only_where_it_has_none():
    base = {"prompt": "a heron", "n": "1", "width": "512", "height": "512", "steps": "4"}
    blank_optional, blank_steps = validate([{**base, "seed": " ", "style": ""}, {**base, "steps": ""}])
    assert blank_optional["args"]["settings"] == {"width": 512, "height": 512, "steps": 4}
    assert blank_steps["problems"] == {"steps": f"{web_rules()['steps']['rule']}, got null"}


@pytest.fixture
def site_without_worker(standin, web_dist):
    with StaticSite(web_dist, web_config(standin.url, standin.keys.anon)) as served:
        yield served


def test_the_form_has_a_field_per_offered_setting_in_position_order(browser, site_without_worker):
    rules = web_rules()
    fields = offered(rules)
    page = new_page(browser, site_without_worker)
    sign_up(page, "form@example.com")
    page.get_by_test_id("nav-new").click()
    shown = page.locator("form [data-testid^='field-']").evaluate_all("els => els.map(el => el.name)")
    assert shown == ["prompt", "n", *fields]
    for name in fields:
        rule, field = rules[name], page.get_by_test_id(f"field-{name}")
        assert page.locator(f"label[for='field-{name}']").inner_text().startswith(rule["label"])
        if rule["unit"]:
            expect(page.locator(f"label[for='field-{name}']")).to_contain_text(f"({rule['unit']})")
        if rule["kind"] in ("integer", "decimal"):
            expect(field).to_have_attribute("type", "number")
            for attribute in ("min_value", "max_value", "step"):
                if rule[attribute] is not None:
                    html = attribute.removesuffix("_value")
                    assert float(field.get_attribute(html)) == rule[attribute], (name, attribute)
        elif rule["kind"] == "choice":
            assert field.evaluate("el => el.tagName") == "SELECT"
        expect(field).to_have_value(rule["default_value"] or "")

    # A number past its limit is refused next to its field, in the form's words.
    page.get_by_label("Prompt").fill("a heron")
    steps = rules["steps"]
    over = str(steps["max_value"] + steps["step"])
    page.get_by_test_id("field-steps").fill(over)
    page.get_by_test_id("create-series").click()
    said = f"{steps['label']}{steps['rule'].removeprefix('steps')}, got {over}"
    expect(page.get_by_test_id("error-steps")).to_have_text(said)
    expect(page.get_by_test_id("field-steps")).to_be_focused()
    page.get_by_test_id("field-steps").fill(str(steps["max_value"]))  # corrected: the problem goes at once
    expect(page.get_by_test_id("error-steps")).to_be_hidden()
    expect(page.get_by_test_id("field-steps")).not_to_have_attribute("aria-invalid", "true")
    # A size preset fills width and height in.
    page.get_by_label("Size preset").select_option(value="1280x720")
    expect(page.get_by_test_id("field-width")).to_have_value("1280")
    expect(page.get_by_test_id("field-height")).to_have_value("720")
