"""A try's state rules are stated once (imagen_private.try_state, unfinished_statuses) and every
surface agrees with what the claim really does: the autoscaler's count, the operator's overview, the
queue places and the generated constants of the web app and the CLI. Each edge case is set up, and
the claim is asked (in a transaction rolled back afterwards) instead of restating its rule here."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from PIL import Image

from imagen.console.fleet import queue_overview
from imagen.console.settings_rules import UNFINISHED_STATUSES
from imagen.console.users import as_user, ensure_user
from imagen.jobs import TryStatus
from imagen.loop.worker import Worker
from imagen.transports import postgres_queue
from imagen.transports.local_storage import LocalStorage
from tests.database import REPO_ROOT
from tests.test_settings_rules import deno_prints
from tests.world import as_worker, claim, create_series


def set_state(conn, try_id: str, **columns) -> None:
    """Puts a try in a state as a worker or the clock would have left it (as the database owner)."""
    sets = ", ".join(f"{name} = {value}" for name, value in columns.items())
    conn.execute(f"update imagen.jobs set {sets} where id = %s", (try_id,))


@pytest.fixture
def edge_cases(conn, user_a, user_b) -> dict[str, str]:
    """One try in each state the rules must tell apart, over three owners."""
    user_c = ensure_user(conn, "c@example.com")
    a = create_series(conn, user_a, 8)["try_ids"]
    held = [str(claim(conn, "w1")["id"]) for _ in range(6)]  # a's first six go to a worker
    b = create_series(conn, user_b, 2)["try_ids"]
    deleted = create_series(conn, user_c, 1)
    cases = {
        "rendering": held[0],  # running on a live lease
        "cancel asked on a live lease": held[1],
        "expired with attempts left": held[2],
        "expired out of attempts": held[3],
        "expired and cancel asked": held[4],
        "expired, its last attempt": held[5],
        "waiting out a backoff": a[6],
        "queued and due": a[7],
        "another owner's queued": b[0],
        "another owner's second": b[1],
    }
    set_state(conn, cases["cancel asked on a live lease"], cancel_requested="true")
    set_state(conn, cases["expired with attempts left"], lease_expires_at="now() - interval '1 s'")
    set_state(conn, cases["expired out of attempts"], lease_expires_at="now() - interval '1 s'", attempts=3)
    set_state(conn, cases["expired and cancel asked"], lease_expires_at="now() - interval '1 s'",
              cancel_requested="true")  # fmt: skip
    set_state(conn, cases["expired, its last attempt"], lease_expires_at="now() - interval '1 s'", max_attempts=1)
    set_state(conn, cases["waiting out a backoff"], run_after="now() + interval '1 hour'")
    with as_user(conn, user_c):  # a try of a deleted series is gone with it
        conn.execute("delete from imagen.series where id = %s", (deleted["id"],))
    return cases


def what_the_claim_hands_out(conn) -> list[str]:
    """Every try the claim would hand out now, in its order; nothing is kept."""
    taken = []
    with conn.transaction(force_rollback=True), as_worker(conn):
        while row := conn.execute("select id from imagen.claim_next('agreement', 60, null)").fetchone():
            taken.append(str(row[0]))
    return taken


def states(conn) -> dict[str, str]:
    rows = conn.execute("select id, imagen_private.try_state(j) from imagen.jobs j").fetchall()
    return {str(i): s for i, s in rows}


def test_the_claim_hands_out_exactly_the_runnable_tries(conn, edge_cases):
    handed_out = what_the_claim_hands_out(conn)
    by_state = states(conn)
    assert {t for t, s in by_state.items() if s == "runnable"} == set(handed_out)
    assert set(handed_out) == {edge_cases[c] for c in
                               ("expired with attempts left", "queued and due", "another owner's queued",
                                "another owner's second")}  # fmt: skip
    assert (
        by_state[edge_cases["expired out of attempts"]] == by_state[edge_cases["expired and cancel asked"]] == "ending"
    )
    assert by_state[edge_cases["cancel asked on a live lease"]] == "rendering"
    assert by_state[edge_cases["waiting out a backoff"]] == "waiting"


def test_every_surface_counts_what_the_claim_does(conn, edge_cases):
    handed_out = what_the_claim_hands_out(conn)
    with conn.transaction():  # one now() for every surface
        view = queue_overview(conn)
        depth = conn.execute("select imagen.queue_depth()").fetchone()[0]
        places = conn.execute("select id, place, state from imagen.queue order by place nulls last").fetchall()
    rendering = [edge_cases["rendering"], edge_cases["cancel asked on a live lease"]]
    waiting = [edge_cases["waiting out a backoff"]]
    assert view["runnable"] == len(handed_out)
    assert (view["waiting"], view["running"]) == (len(waiting), len(rendering))
    # The autoscaler: a worker for each try it would claim, each one waiting out a backoff, each render.
    assert depth == len(handed_out) + len(waiting) + len(rendering)
    # The places: exactly the tries the claim hands out, in the order it hands them out.
    assert [str(i) for i, place, _ in places if place is not None] == handed_out
    assert {str(i): s for i, _, s in places if s != "runnable"} == {t: "rendering" for t in rendering} | {
        t: "waiting" for t in waiting
    }


def test_the_cap_counts_the_unfinished_tries_and_a_retry_is_a_new_request(conn, user_a):
    """A user's cap counts the statuses that are not finished, as the screens do; sending a
    finished try back to the queue asks for one more, through the RPC or a direct update."""
    conn.execute("insert into imagen.limits (owner_id, max_unfinished_tries) values (%s, 3)", (user_a,))
    series = create_series(conn, user_a, 3)
    with as_user(conn, user_a):
        conn.execute("select imagen.cancel_job(%s)", (series["try_ids"][0],))
    create_series(conn, user_a, 1)  # one finished: room for one
    for retry in ("select imagen.retry_job(%s)", "update imagen.jobs set status = 'queued' where id = %s"):
        with pytest.raises(psycopg.Error) as refused, as_user(conn, user_a):
            conn.execute(retry, (series["try_ids"][0],))
        assert refused.value.sqlstate == "PT429"
        assert refused.value.diag.message_primary == (
            "too many unfinished tries: you have 3 queued or running and asked for 1 more, the limit is 3"
        )
    with as_user(conn, user_a):
        conn.execute("select imagen.cancel_job(%s)", (series["try_ids"][1],))
        conn.execute("select imagen.retry_job(%s)", (series["try_ids"][0],))  # room again


def test_the_generated_constants_are_the_databases(conn):
    said = conn.execute("select imagen_private.unfinished_statuses()").fetchone()[0]
    web = deno_prints(
        f'import {{ UNFINISHED_STATUSES }} from "{REPO_ROOT / "web" / "src" / "settings_rules.ts"}";'
        " console.log(JSON.stringify(UNFINISHED_STATUSES));"
    )
    assert set(said) == set(web) == UNFINISHED_STATUSES
    assert {s.value for s in TryStatus if s.unfinished} == UNFINISHED_STATUSES


def test_a_worker_claims_only_the_models_it_renders(conn, user_a, user_b):
    """Two workers of different models on one queue: each takes its model's tries, in fair turns
    within them, and queue_depth(model) counts exactly what such a worker would claim."""
    with as_user(conn, user_a):
        conn.execute("""select imagen.create_series('fox', 2, '{"model": "m-one"}')""")
        conn.execute("""select imagen.create_series('owl', 2, '{"model": "m-two"}')""")
    with as_user(conn, user_b):
        conn.execute("""select imagen.create_series('elk', 1, '{"model": "m-two"}')""")
    depth = {m: conn.execute("select imagen.queue_depth(%s)", (m,)).fetchone()[0] for m in ("m-one", "m-two")}
    taken: dict[str, list[tuple[str, str]]] = {"m-one": [], "m-two": []}
    with as_worker(conn):
        for model in ("m-two", "m-one", "m-two", "m-one", "m-two", "m-one", "m-two"):
            row = conn.execute(
                "select settings->>'model', settings->>'prompt' from imagen.claim_job('w-' || %s, 60, %s, %s)",
                (model, uuid.uuid4(), [model]),
            ).fetchone()
            if row is not None:
                assert row[0] == model
                taken[model].append(row[1])
    assert taken == {"m-one": ["fox", "fox"], "m-two": ["owl", "elk", "owl"]}  # b's turn comes within m-two
    assert depth == {"m-one": 2, "m-two": 3}


def test_a_worker_claims_only_the_kinds_it_renders(conn, user_a):
    with as_user(conn, user_a):
        conn.execute("select imagen.create_series('fox', 1)")
    with as_worker(conn):
        nothing = conn.execute("select * from imagen.claim_job('w', 60, %s, null, %s)", (uuid.uuid4(), ["vary"]))
        assert nothing.fetchone() is None
        row = conn.execute("select kind from imagen.claim_job('w', 60, %s, null, %s)", (uuid.uuid4(), ["generate"]))
        assert row.fetchone() == ("generate",)


def test_the_web_app_restates_no_status_list():
    """The web app asks UNFINISHED_STATUSES (generated) instead of listing statuses by hand."""
    sources = [p for p in (REPO_ROOT / "web" / "src").rglob("*.ts") if p.name not in ("settings_rules.ts",
               "database.types.ts")]  # fmt: skip
    pairs = [json.dumps(["queued", "running"]).replace(" ", ""), "'queued','running'", '"queued","running"']
    found = [p.name for p in sources if any(pair in p.read_text().replace(" ", "") for pair in pairs)]
    assert found == []


class ModelRenderer:
    """Renders only its own model's tries, and records which it rendered."""

    device = "none"
    kinds = frozenset({"generate"})

    def __init__(self, model: str) -> None:
        self.model, self.rendered = model, []

    def render(self, job, on_step=None):
        assert job.model == self.model, f"{self.model} was handed a {job.model} try"
        self.rendered.append(job.prompt)
        return Image.new("RGB", (8, 8))


def test_two_workers_of_different_models_on_one_queue_each_render_their_own(db_url, conn, user_a, user_b, tmp_path):
    """The loop as deployed: two workers, each declaring its model, drain one queue side by side."""
    with as_user(conn, user_a):
        conn.execute("""select imagen.create_series('fox', 3, '{"model": "m-one"}')""")
        conn.execute("""select imagen.create_series('owl', 2, '{"model": "m-two"}')""")
    with as_user(conn, user_b):
        conn.execute("""select imagen.create_series('elk', 2, '{"model": "m-two"}')""")
    renderers = {m: ModelRenderer(m) for m in ("m-one", "m-two")}

    def drain(model: str) -> None:
        queue = postgres_queue(db_url, f"w-{model}", models=[model], kinds=sorted(renderers[model].kinds))
        try:
            Worker(queue, LocalStorage(tmp_path), renderers[model], poll_interval=0.1).run(burst=True)
        finally:
            queue.close()

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(drain, renderers))
    assert sorted(renderers["m-one"].rendered) == ["fox"] * 3
    assert sorted(renderers["m-two"].rendered) == ["elk", "elk", "owl", "owl"]
    done = conn.execute("select count(*) from imagen.jobs where status = 'done'").fetchone()[0]
    assert done == 7


def test_a_running_try_always_has_a_lease_the_claim_can_see_expire(conn, user_a):
    """Without one it would show as runnable and never be claimed again."""
    create_series(conn, user_a, 1)
    held = claim(conn)
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("update imagen.jobs set lease_expires_at = null where id = %s", (held["id"],))
