"""Claims take turns between users: the owner served least recently goes first; within one owner,
series order, then index order; SKIP LOCKED still hands each try to one claimer only."""

from __future__ import annotations

import psycopg

from imagen.console.users import ensure_user
from tests.world import as_worker, claim, create_series, race_two_claimers


def queue_three_users(conn, users) -> dict:
    """Each user queues two series of 5 (10 tries each), the users' series interleaved in time."""
    series: dict = {user: [] for user in users}
    for _ in range(2):
        for user in users:
            series[user].append(create_series(conn, user, 5)["id"])
    return series


def test_first_nine_claims_serve_each_of_three_users_three_times(conn, user_a, user_b):
    user_c = ensure_user(conn, "c@example.com")
    users = [user_a, user_b, user_c]
    queue_three_users(conn, users)
    owners = [claim(conn)["owner_id"] for _ in range(9)]
    assert {owner: owners.count(owner) for owner in owners} == {user: 3 for user in users}
    # Round robin: every window of three claims serves all three users once.
    for start in range(0, 9, 3):
        assert set(owners[start : start + 3]) == set(users)


def test_a_user_who_queues_late_goes_before_users_already_served(conn, user_a, user_b):
    create_series(conn, user_a, 10)
    assert [claim(conn)["owner_id"] for _ in range(3)] == [user_a] * 3
    create_series(conn, user_b, 2)
    assert [claim(conn)["owner_id"] for _ in range(4)] == [user_b, user_a, user_b, user_a]


def test_within_one_user_series_order_then_index_order(conn, user_a, user_b):
    user_c = ensure_user(conn, "c@example.com")
    users = [user_a, user_b, user_c]
    series = queue_three_users(conn, users)
    served: dict = {user: [] for user in users}
    while job := claim(conn):
        served[job["owner_id"]].append((str(job["series_id"]), job["series_idx"]))
    for user in users:
        first, second = (str(s) for s in series[user])
        assert served[user] == [(first, i) for i in range(1, 6)] + [(second, i) for i in range(1, 6)]


def test_owners_never_served_go_in_the_order_they_first_queued(conn, user_a, user_b):
    create_series(conn, user_a, 2)
    create_series(conn, user_b, 2)
    first = claim(conn)
    assert first["owner_id"] == user_a
    assert claim(conn)["owner_id"] == user_b
    assert claim(conn)["owner_id"] == user_a
    assert claim(conn)["owner_id"] == user_b
    assert claim(conn) is None


def test_two_concurrent_claimers_never_take_the_same_try(db_url, conn, user_a, user_b):
    user_c = ensure_user(conn, "c@example.com")
    users = [user_a, user_b, user_c]
    # More than a user's cap: queued as the service role.
    with as_worker(conn):
        conn.execute(
            "insert into imagen.jobs (owner_id, settings)"
            " select u, jsonb_build_object('prompt', 'p' || i, 'model', 'm', 'seed', i)"
            " from unnest(%s::uuid[]) u, generate_series(1, 60) i",
            (users,),
        )
    claimed = race_two_claimers(db_url)
    all_ids = claimed["w1"] + claimed["w2"]
    assert len(all_ids) == 180
    assert len(set(all_ids)) == 180
    assert claimed["w1"] and claimed["w2"], "both connections should have claimed some tries"


def test_users_can_neither_read_nor_move_their_turn(conn, user_a):
    from imagen.console.users import as_user

    create_series(conn, user_a, 1)
    claim(conn)
    for sql in (
        "select * from imagen.owner_turns",
        "update imagen.owner_turns set last_claimed_at = null",
        "insert into imagen.owner_turns (owner_id) values (auth.uid())",
    ):
        try:
            with as_user(conn, user_a):
                conn.execute(sql)
        except psycopg.errors.InsufficientPrivilege:
            continue
        raise AssertionError(f"a user ran: {sql}")


def test_a_claim_in_flight_locks_only_the_try_it_takes(db_url, conn, user_a, user_b):
    """The owner walk comes from an index, so LIMIT 1 stops it: a claim that has not committed yet
    holds one try, and a concurrent claimer still gets another owner's."""
    user_c = ensure_user(conn, "c@example.com")
    for user in (user_a, user_b, user_c):
        create_series(conn, user, 1)
    with psycopg.connect(db_url) as first, as_worker(first):
        cur = first.cursor(row_factory=psycopg.rows.dict_row)
        held = cur.execute("select * from imagen.claim_job('w1', 60)").fetchone()
        other = claim(conn, "w2")
        assert other is not None and other["owner_id"] != held["owner_id"]
        third = claim(conn, "w3")
        assert third is not None and third["owner_id"] not in (held["owner_id"], other["owner_id"])


def test_each_owners_queued_count_follows_every_way_in_and_out_of_the_queue(conn, user_a, user_b):
    """owner_turns.queued_tries is what keeps idle owners out of the claim's walk: it must equal the
    owner's queued tries after inserts, claims, releases, failures, cancels, retries, expired
    leases and deletes."""
    from imagen.console.users import as_user

    def counts_agree() -> None:
        with as_worker(conn):
            rows = conn.execute(
                "select t.owner_id, t.queued_tries,"
                " (select count(*) from imagen.jobs j where j.owner_id = t.owner_id and j.status = 'queued')"
                " from imagen.owner_turns t"
            ).fetchall()
        assert rows and all(kept == real for _, kept, real in rows), rows

    first = create_series(conn, user_a, 4)
    create_series(conn, user_b, 2)
    counts_agree()
    released, failed, cancelled, expired = (claim(conn) for _ in range(4))
    counts_agree()
    with as_worker(conn):
        conn.execute("select imagen.release_job(%s, 'w1')", (released["id"],))
        conn.execute("select imagen.fail_job(%s, 'w1', 'boom', 0)", (failed["id"],))
        conn.execute("update imagen.jobs set lease_expires_at = now() - interval '1 s' where id = %s", (expired["id"],))
    claim(conn)  # sweeps the expired lease back to the queue, then claims
    counts_agree()
    with as_user(conn, cancelled["owner_id"]):
        conn.execute("update imagen.jobs set cancel_requested = true where id = %s", (cancelled["id"],))
    with as_user(conn, user_a):
        conn.execute("select imagen.cancel_series(%s)", (first["id"],))
    counts_agree()
    with as_user(conn, user_a):
        for (job_id,) in conn.execute(
            "select id from imagen.jobs where series_id = %s and status = 'cancelled'", (first["id"],)
        ).fetchall():
            conn.execute("select imagen.retry_job(%s)", (job_id,))
    counts_agree()
    with as_user(conn, user_a):
        conn.execute("delete from imagen.series where id = %s", (first["id"],))
    counts_agree()


def test_owners_with_nothing_queued_are_not_in_the_claims_walk(conn, user_a, user_b):
    create_series(conn, user_a, 1)
    create_series(conn, user_b, 1)
    claim(conn)
    with as_worker(conn):
        walked = conn.execute("select owner_id from imagen.owner_turns where queued_tries > 0").fetchall()
    assert walked == [(user_b,)]
