"""The fleet simulator at its smoke size (bench.fleet): real Worker loops in node processes, through
PgBouncer with one listening session a node while a node is SIGKILLed, and direct with a session
a worker. Nothing lost or duplicated; the counts say what each path holds open."""

from __future__ import annotations

import json

from bench.fleet import POOL, jain, main


def test_jain_index_is_one_for_equal_shares_and_one_over_n_for_a_single_winner():
    assert jain([3, 3, 3, 3]) == 1.0
    assert jain([8, 0, 0, 0]) == 0.25


def test_the_smoke_fleet_loses_nothing_and_holds_one_listener_a_node(tmp_path):
    out = tmp_path / "fleet.json"
    rows = main(["--smoke", "--out", str(out)])["rows"]
    assert json.loads(out.read_text())["smoke"] is True
    pooled, direct = rows
    assert pooled["path"] == "pgbouncer" and pooled["killed"] == "1 node"
    assert pooled["tries/s"] > 0 and direct["tries/s"] > 0
    for row in rows:
        assert row["lost"] == 0 and row["dup"] == 0, row
    # One LISTEN session a node process, whatever its workers; one a worker when asked for.
    assert pooled["listeners"] == pooled["nodes"]
    assert direct["listeners"] == direct["workers"]
    # The pool bounds the database's connections (the listeners are direct); 4 a worker without it.
    assert pooled["server conns"] <= POOL + pooled["listeners"]
    assert pooled["client conns"] > pooled["server conns"] - pooled["listeners"]
    assert pooled["notify/try"] > 0 and pooled["wakeups/try"] > 0
