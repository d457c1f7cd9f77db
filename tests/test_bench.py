"""The benchmarks stay alive: each runs at its smoke size and writes its JSON. The GPU script's
full-size FLUX.1-schnell architecture is built on the meta device (no memory) and its size checked."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from bench.all import BENCHMARKS

from tests.database import REPO_ROOT

# The web app's benchmark needs a browser and a worker process of its own (tests/test_web_app.py
# drives the same screens); realtime_quota's smoke run has a test of its own below, fleet's in
# tests/test_fleet.py.
OWN_TESTS = ["web_app", "realtime_quota", "fleet"]
IN_SUITE = [name for name in BENCHMARKS if name not in OWN_TESTS]


def test_every_benchmark_runs_at_smoke_size_and_writes_its_results(tmp_path):
    """One process runs them all (bench.all, as `just bench` does), so torch is imported once."""
    result = subprocess.run(
        [sys.executable, "-m", "bench.all", "--smoke", "--out-dir", str(tmp_path), "--skip", *OWN_TESTS],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    for name in IN_SUITE:
        payload = json.loads((tmp_path / f"{name}.json").read_text())
        assert payload["benchmark"] == name and payload["smoke"] is True and payload["results"], name


def test_full_flux_schnell_architecture_has_its_published_size():
    from bench.gpu_flux import build_full_flux

    pipe = build_full_flux("meta", torch.bfloat16)

    def billions(module):
        return sum(p.numel() for p in module.parameters()) / 1e9

    assert billions(pipe.transformer) == pytest.approx(11.90, abs=0.02)
    assert billions(pipe.text_encoder_2) == pytest.approx(4.76, abs=0.02)
    assert billions(pipe.text_encoder) == pytest.approx(0.123, abs=0.002)
    assert billions(pipe.vae) == pytest.approx(0.0838, abs=0.002)


def test_realtime_quota_smoke_run_writes_results_and_the_bound_sends_fewer_messages(tmp_path):
    """In process (no torch, no database): the publisher at the H200's pace, before and after the bound."""
    from bench.realtime_quota import main

    out = tmp_path / "realtime_quota.json"
    rows = main(["--smoke", "--out", str(out)])["rows"]
    assert json.loads(out.read_text())["smoke"] is True
    before, after = rows
    assert after["sent msg/s"] < before["sent msg/s"]
    assert after["frames/try"] >= 1  # every try still shows progress


def test_bench_all_ends_with_the_goal_table_and_fails_on_a_miss_at_full_size(monkeypatch, capsys):
    """`just bench` says when a benchmark misses its goal: one table, and exit status 1 (not at smoke size)."""
    import bench.all
    from bench.common import GOALS, check_goal

    def fake_run(name: str, smoke: bool, out_dir) -> float:
        if name == "queue_overhead":
            check_goal(name, "imagen / procrastinate tries/s", 1.18, ">= 2x", False)
        else:
            check_goal(name, "NOTIFY wake-up p50 ms", 0.7, "<= 5", True)
        return 0.1

    monkeypatch.setattr(bench.all, "run", fake_run)
    saved = list(GOALS)
    try:
        GOALS.clear()
        assert bench.all.main(["--only", "queue_overhead", "wakeup_latency", "claim_cost"]) == 1
        out = capsys.readouterr().out
        assert "MISSED: queue_overhead: imagen / procrastinate tries/s" in out
        table = out[out.index("\nGoals") :]
        assert "1.180" in table and ">= 2x" in table and "MISSED" in table and "0.700" in table
        GOALS.clear()
        assert bench.all.main(["--smoke", "--only", "queue_overhead"]) == 0  # shown, not counted
        assert "MISSED" in capsys.readouterr().out
    finally:
        GOALS[:] = saved


def test_realtime_per_try_smoke_run_goes_through_private_topics_only(tmp_path):
    """End to end (torch, a database, the stand-ins): the viewer's try changes come as Broadcast
    from the database, two a try (running, done), with Realtime allowing private channels only."""
    from bench.realtime_quota import main

    (row,) = main(["--per-try", "--smoke", "--out", str(tmp_path / "realtime_per_try.json")])["rows"]
    assert (row["mode"], row["private only"]) == ("after", True)
    assert row["the viewer's, by kind / try"].endswith(", try 2")  # kinds in name order
    assert row["to the worker / try"] < 1  # one wake-up for the series, not one per try
