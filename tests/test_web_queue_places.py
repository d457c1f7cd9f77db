"""The web app shows the places the database counts (imagen.queue): in the browser, a try behind
another user's shows its place in the whole queue, not only in its owner's line."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from imagen.console.users import ensure_user
from imagen.dev.web_stack import StaticSite, web_config
from tests.test_web_app import new_page, sign_up, start_series
from tests.world import as_worker, create_series, finish_all


@pytest.fixture
def site_without_worker(standin, web_dist, tmp_path):
    """The app with nobody rendering: the queue stays as it was made."""
    with StaticSite(web_dist, web_config(standin.url, standin.keys.anon)) as served:
        yield served


def test_a_try_shows_its_place_in_the_whole_queue(browser, site_without_worker, conn):
    # Three renders of 2 s each by someone else: what the estimates learn from (test_queue_estimates.py).
    create_series(conn, ensure_user(conn, "earlier@example.com"), 3)
    for job in finish_all(conn):
        conn.execute(
            "update imagen.jobs set started_at = finished_at - interval '2 seconds' where id = %s", (job["job_id"],)
        )
    other = ensure_user(conn, "first@example.com")
    create_series(conn, other, 3)  # queued first: this owner's turn comes first
    page = new_page(browser, site_without_worker)
    sign_up(page, "second@example.com")
    series_id = start_series(page, "a heron", 2)
    with as_worker(conn):
        places = conn.execute(
            "select series_idx, place, place_in_line from imagen.queue where series_id = %s order by series_idx",
            (series_id,),
        ).fetchall()
    # Turns: the other user's 1st, this user's 1st, the other's 2nd, this user's 2nd, ...
    assert places == [(1, 2, 1), (2, 4, 2)]
    for idx, place, line in places:
        tile = page.get_by_test_id(f"tile-{idx}")
        expect(tile).to_have_attribute("data-queue-position", str(place))
        expect(tile).to_have_attribute("data-line-position", str(line))
        expect(tile).to_contain_text(f"#{place} in the queue (#{line} of yours)")
        # Each try's estimate, said as "about N s" (the database holds it good to 25 %): ahead of
        # the 2nd, 1 try (2 s); of the 4th, 3 tries (6 s), give or take the page's clock.
        expect(tile).to_contain_text(re.compile(r"starts in about \d+ s"))
        seconds = int(re.search(r"starts in about (\d+) s", tile.inner_text()).group(1))
        assert abs(seconds - 2 * (place - 1)) <= 2  # the page counts down from its last read
