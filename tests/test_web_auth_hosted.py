"""The web app's sign-up screens against an Auth run as a hosted project runs it
(AuthConfig.hosted(): "Confirm email" on, the built-in mailer that writes only to the team, its
two mails an hour, a resend interval), tried as a new user would: every refusal is a sentence
that says what to do next, only the fields to change are outlined, and a resend link refused for
now comes back when it may be used."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from imagen.dev.supabase_standin import SupabaseStandIn
from imagen.dev.supabase_standin.auth_config import AuthConfig
from imagen.dev.web_stack import StaticSite, web_config
from tests.database import with_dbname
from tests.test_web_app import ask_to_sign_up, assert_accessible, new_page

TEAM = "owner@imagen.dev"


@pytest.fixture
def hosted_site(db_url, pg_server, web_dist) -> Iterator[StaticSite]:
    admin_url = with_dbname(pg_server.admin_url, db_url.rsplit("/", 1)[1])
    # A resend interval of 8 s instead of 60, so that the test waits for the link's return.
    config = AuthConfig.hosted(team_addresses=(TEAM,), max_frequency=8)
    with (
        SupabaseStandIn(db_url, admin_url=admin_url, auth_config=config) as standin,
        StaticSite(web_dist, web_config(standin.url, standin.keys.anon)) as served,
    ):
        yield served


def outlined(page, label: str) -> bool:
    return page.get_by_label(label).get_attribute("aria-invalid") == "true"


def test_a_new_user_on_a_hosted_project_is_told_what_to_do_at_every_refusal(browser, hosted_site):
    page = new_page(browser, hosted_site)
    error = page.get_by_test_id("auth-error")
    # Someone outside the team: the mailer refuses, no account is made, and neither field is wrong.
    ask_to_sign_up(page, "newcomer@imagen.dev")
    expect(error).to_contain_text("custom SMTP")
    expect(error).to_contain_text("no account was made")
    assert not outlined(page, "Email") and not outlined(page, "Password")
    assert_accessible(page, "mailer refused")

    # The team's address: mailed (1 of 2 this hour). Asking again at once: not yet, and when.
    ask_to_sign_up(page, TEAM)
    expect(page.get_by_test_id("auth-message")).to_contain_text("Check your inbox")
    page.get_by_test_id("resend").click()
    expect(error).to_contain_text(re.compile(r"ask for another in \d+ s"))
    expect(page.get_by_test_id("resend")).to_be_hidden()
    # ... and the link comes back once it may be used (2 of 2).
    expect(page.get_by_test_id("resend")).to_be_visible(timeout=15_000)
    page.get_by_test_id("resend").click()
    expect(page.get_by_test_id("auth-message")).to_contain_text("We sent the link")

    # A third mail within the hour: the project's limit, in words, with no field to blame.
    ask_to_sign_up(page, "owner+second@imagen.dev")
    expect(error).to_contain_text("as many emails as it may this hour")
    assert not outlined(page, "Email") and not outlined(page, "Password")
    assert_accessible(page, "hourly mail limit")
