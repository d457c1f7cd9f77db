"""The web app tells a user who hit the cap on unfinished tries how many are unfinished and what
to do (issue 19): the database's PT429, read by the app in chromium against the stand-ins."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.test_web_app import browser, new_page, sign_up, site, web_dist  # noqa: F401 (fixtures)


def test_the_cap_says_how_many_tries_are_unfinished_and_what_to_do(browser, site, conn):  # noqa: F811
    page = new_page(browser, site)
    sign_up(page, "cap@example.com")
    conn.execute(
        "insert into imagen.limits (owner_id, max_unfinished_tries)"
        " select id, 1 from auth.users where email = 'cap@example.com'"
    )
    page.get_by_test_id("nav-new").click()
    page.get_by_label("Prompt").fill("a fox")
    page.get_by_label("Tries").fill("2")
    page.get_by_test_id("create-series").click()
    error = page.get_by_test_id("form-error")
    expect(error).to_contain_text("You have 0 tries queued or running, and 2 more would go over your limit")
    expect(error).to_contain_text("of 1 unfinished try.")
    expect(error).to_contain_text("Wait for some to finish, or cancel some you no longer need, then try again.")
    assert "#/new" in page.url
