"""PostgREST as a hosted project runs it: each role's own statement timeout applies to its
requests (anon 3 s, authenticated 8 s: the platform's `alter role ... set`, which PostgREST applies
per request as role settings), and no read answers more than 1,000 rows (db-max-rows), which a
client pages past as PostgREST lets it: offset and limit, the total with Prefer: count=exact."""

from __future__ import annotations

import httpx
import pytest

# TEST SETUP ONLY: a scratch function that takes as long as asked, and a table of 1,500 rows.
SCRATCH = """
create function public.standin_sleep(seconds float8) returns text language sql as $$
  select pg_sleep(seconds)::text || current_setting('statement_timeout') $$;
grant execute on function public.standin_sleep(float8) to anon, authenticated;
create table public.standin_many (n int primary key);
insert into public.standin_many select generate_series(1, 1500);
grant select on public.standin_many to anon;
"""


@pytest.fixture
def scratch(conn):
    conn.execute(SCRATCH)
    yield
    conn.execute("drop function public.standin_sleep(float8); drop table public.standin_many")


def call(standin, token: str, seconds: float) -> httpx.Response:
    headers = {"apikey": standin.keys.anon, "Authorization": f"Bearer {token}"}
    return httpx.post(f"{standin.url}/rest/v1/rpc/standin_sleep", json={"seconds": seconds}, headers=headers,
                      timeout=30)  # fmt: skip


def test_each_role_runs_under_its_own_statement_timeout(standin, scratch, user_a):
    assert call(standin, standin.keys.anon, 0).json() == "3s"
    assert call(standin, standin.keys.user(user_a), 0).json() == "8s"
    slow = call(standin, standin.keys.anon, 3.5)
    assert (slow.status_code, slow.json()["code"]) == (500, "57014")  # canceled: statement timeout
    assert call(standin, standin.keys.user(user_a), 3.5).status_code == 200


def test_a_read_answers_at_most_1000_rows(standin, scratch):
    headers = {"apikey": standin.keys.anon}
    everything = httpx.get(f"{standin.url}/rest/v1/standin_many", params={"select": "n"}, headers=headers)
    asked_more = httpx.get(f"{standin.url}/rest/v1/standin_many", params={"limit": "1200"}, headers=headers)
    assert len(everything.json()) == len(asked_more.json()) == 1000


def test_a_read_pages_past_the_cap_with_offset_and_its_count(standin, scratch):
    headers = {"apikey": standin.keys.anon, "Prefer": "count=exact"}

    def read(**params: str) -> httpx.Response:
        return httpx.get(f"{standin.url}/rest/v1/standin_many", params={"select": "n", "order": "n", **params},
                         headers=headers)  # fmt: skip

    first, rest = read(), read(offset="1000")
    assert (first.status_code, first.headers["Content-Range"], len(first.json())) == (206, "0-999/1500", 1000)
    assert (rest.status_code, rest.headers["Content-Range"], rest.json()[0]) == (206, "1000-1499/1500", {"n": 1001})
    whole = read(limit="2", offset="1498")
    assert (whole.headers["Content-Range"], whole.json()) == ("1498-1499/1500", [{"n": 1499}, {"n": 1500}])
    past = read(offset="1600")
    assert (past.status_code, past.json()["code"], past.headers["Content-Range"]) == (416, "PGRST103", "*/1500")
    uncounted = httpx.get(
        f"{standin.url}/rest/v1/standin_many", params={"limit": "3"}, headers={"apikey": standin.keys.anon}
    )
    assert (uncounted.status_code, uncounted.headers["Content-Range"]) == (200, "0-2/*")
    standin.max_rows = 10  # a test's lower cap
    assert (len(read().json()), read().headers["Content-Range"]) == (10, "0-9/1500")
