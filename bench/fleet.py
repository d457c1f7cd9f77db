"""A fleet on one queue, simulated: N real `Worker` loops spread over node processes (bench.fleet_node,
N/10 workers a node: a node is a GPU box), against one durable PostgreSQL, through PgBouncer in
transaction mode (as Supavisor on port 6543) or direct, with one LISTEN session a node (or one a
worker, to compare). 20 simulated users submit series at a chosen rate (demand runs), or hold a
backlog (ceiling runs, 0 s renders: the queue's own limit).

The mix, the same in every demand run: n = 1, 4 or 10 tries a series (40 / 40 / 20 %, mean 4),
1024x1024, 768x1024 or 512x512 (a third each), users in turn, exponential gaps between series. The
sleeping renderer takes the run's render time whatever the size (a GPU's time is the pixels';
the queue's work is not). Demand runs pick the render time so that the fleet is 80 % busy at the
demand: render = 0.8 x N / demand.

Each run reports tries/s over a measured window; claim p50/p99 (every claim in the window, empty
ones included); queue wait p50 (median user) / p99 (worst user); Jain's index over the users (in
ceiling runs, where every user has a backlog, over their shares of the window's tries; in demand
runs, where everyone gets what they ask, over their mean queue waits); the database's server
connections (peak) and listening sessions (peak); the database's CPU a try (and PgBouncer's);
NOTIFYs and wake-up calls a try; and, after the queue is drained, tries lost (not done) and
duplicated (more than one picture). Runs marked "kill" SIGKILL one node (10 % of the workers)
mid-window: its tries come back when their leases (10 s) expire. `python -m bench.fleet [--smoke] [--out FILE]`."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

from bench.common import (
    CPU_READER,
    REPO_ROOT,
    check_goal,
    database_cpu_seconds,
    migrated_cluster,
    parser,
    percentile,
    print_table,
    scratch_folder,
    write_results,
)
from imagen.console.users import as_user, ensure_user
from imagen.dev.embedded_postgres import EmbeddedPostgres
from imagen.dev.pgbouncer import PgBouncer
from imagen.signals import die_with_parent
from imagen.transports.listener import APPLICATION_NAME

USERS = 20
POOL = 20  # PgBouncer's server connections for the database
MIX_N = [(1, 0.4), (4, 0.4), (10, 0.2)]
SIZES = [(1024, 1024), (768, 1024), (512, 512)]
BENCH_APP = "fleet-bench"  # this script's own sessions, left out of the counts


def jain(values: list[float]) -> float:
    """Jain's fairness index: 1 when all are equal, 1/n when one user gets everything."""
    total, squares = sum(values), sum(v * v for v in values)
    return total * total / (len(values) * squares) if squares else 1.0


def fleet_cluster(smoke: bool) -> EmbeddedPostgres:
    """A durable cluster of the benchmark's own, migrated, with room for a direct fleet's connections
    (at the smoke size: the benchmarks' shared throwaway cluster, already migrated)."""
    from imagen.db.migrate import migrate

    if smoke:
        return migrated_cluster(durable=False)
    pg = EmbeddedPostgres(durable=True).start()
    try:
        with psycopg.connect(pg.admin_url(), autocommit=True) as admin:
            admin.execute("alter system set max_connections = 1000")
        pg.restart()
        migrate(pg.url())
    except BaseException:
        pg.stop()
        raise
    return pg


def run_database(pg: EmbeddedPostgres) -> tuple[str, list[uuid.UUID]]:
    name = f"fleet_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg.admin_url("template1"), autocommit=True) as admin:
        admin.execute(f"create database {name} template postgres owner postgres")
    url = pg.url(name)
    with psycopg.connect(url, autocommit=True) as conn:
        users = [ensure_user(conn, f"user{i}@fleet.local") for i in range(USERS)]
        for user in users:
            conn.execute("insert into imagen.limits (owner_id, max_unfinished_tries) values (%s, 1000000)", (user,))
    return url, users


def submit(conn: psycopg.Connection, user: uuid.UUID, n: int, size: tuple[int, int]) -> None:
    with as_user(conn, user):
        conn.execute("select imagen.create_series('fleet', %s, %s)", (n, Jsonb({"width": size[0], "height": size[1]})))


class Users(threading.Thread):
    """The users, in turn, each series after an exponential gap: `demand` tries a second on average."""

    def __init__(self, url: str, users: list, demand: float, seed: int = 34) -> None:
        super().__init__(name="fleet-users", daemon=True)
        self.url, self.users, self.demand = url, users, demand
        self.rng = random.Random(seed)
        self.stop = threading.Event()

    def run(self) -> None:
        mean_n = sum(n * w for n, w in MIX_N)
        with psycopg.connect(self.url, autocommit=True, application_name=BENCH_APP) as conn:
            k, due = 0, time.monotonic()
            while not self.stop.is_set():
                n = self.rng.choices([n for n, _ in MIX_N], [w for _, w in MIX_N])[0]
                submit(conn, self.users[k % len(self.users)], n, self.rng.choice(SIZES))
                k += 1
                due += self.rng.expovariate(self.demand / mean_n)
                self.stop.wait(max(0.0, due - time.monotonic()))


class Sampler(threading.Thread):
    """Peaks of the database's server connections (ours left out) and of its listening sessions."""

    def __init__(self, url: str) -> None:
        super().__init__(name="fleet-sampler", daemon=True)
        self.url = url
        self.stop = threading.Event()
        self.connections = self.listeners = 0

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True, application_name=BENCH_APP) as conn:
            while not self.stop.wait(0.2):
                total, listening = conn.execute(
                    "select count(*) filter (where application_name not in (%s, %s)),"
                    " count(*) filter (where application_name = %s)"
                    " from pg_stat_activity where datname = current_database()",
                    (BENCH_APP, CPU_READER, APPLICATION_NAME),
                ).fetchone()  # fmt: skip
                self.connections, self.listeners = max(self.connections, total), max(self.listeners, listening)


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_nodes(spec: dict, nodes: int, workers: int, folder: Path) -> list[tuple[subprocess.Popen, Path]]:
    started = []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "worker"), str(REPO_ROOT)])}
    for i in range(nodes):
        count = workers // nodes + (1 if i < workers % nodes else 0)
        result = folder / f"node{i}.json"
        node = {**spec, "name": f"node{i}", "workers": count, "result": str(result)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.fleet_node", json.dumps(node)], cwd=REPO_ROOT, env=env,
            stdout=subprocess.PIPE, text=True, preexec_fn=die_with_parent(signal.SIGKILL),
        )  # fmt: skip
        started.append((proc, result))
    for proc, _ in started:
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"a node did not start (exit {proc.wait()})")
    return started


def stop_nodes(nodes: list[tuple[subprocess.Popen, Path]]) -> list[dict]:
    for proc, _ in nodes:
        if proc.poll() is None:
            proc.terminate()
    results = []
    for proc, result in nodes:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        if result.exists():
            results.append(json.loads(result.read_text()))
    return results


def wait_drained(url: str, timeout: float) -> None:
    with psycopg.connect(url, autocommit=True, application_name=BENCH_APP) as conn:
        deadline = time.monotonic() + timeout
        while conn.execute("select count(*) from imagen.jobs where status not in ('done', 'failed')").fetchone()[0]:
            if time.monotonic() > deadline:
                return
            time.sleep(0.2)  # polling the database's own count: nothing to wait on


def prefill(url: str, users: list, tries: int) -> None:
    """The ceiling runs' backlog: the same number of tries for every user (tries / users, in series
    of 10), the users' series interleaved."""
    with psycopg.connect(url, autocommit=True, application_name=BENCH_APP) as conn:
        for k in range(tries // (10 * len(users)) * len(users)):
            submit(conn, users[k % len(users)], 10, SIZES[k % len(SIZES)])


def window_figures(url: str, t0: float, t1: float, ceiling: bool) -> dict:
    """What the database says about the window [t0, t1] and, after the drain, about every try."""
    with psycopg.connect(url, autocommit=True, application_name=BENCH_APP) as conn:
        window = "to_timestamp(%s) and to_timestamp(%s)"
        per_user = conn.execute(
            f"select u.owner_id, count(*) filter (where finished_at between {window}),"
            f" count(*) filter (where queued_at between {window})"
            " from (select distinct owner_id from imagen.jobs) u join imagen.jobs using (owner_id) group by 1",
            (t0, t1, t0, t1),
        ).fetchall()  # fmt: skip
        waits: dict = {}
        for owner, wait in conn.execute(
            f"select owner_id, extract(epoch from started_at - queued_at) from imagen.jobs"
            f" where started_at between {window}", (t0, t1)
        ):  # fmt: skip
            waits.setdefault(owner, []).append(float(wait))
        lost = conn.execute("select count(*) from imagen.jobs where status <> 'done'").fetchone()[0]
        duplicated = conn.execute(
            "select count(*) from (select job_id from imagen.images group by 1 having count(*) > 1) d"
        ).fetchone()[0]
        again, total = conn.execute("select count(*) filter (where attempts > 1), count(*) from imagen.jobs").fetchone()
    p50s = [percentile(w, 50) for w in waits.values()]
    return {
        "done_in_window": sum(done for _, done, _ in per_user),
        "asked_in_window": sum(asked for _, _, asked in per_user),
        "wait_p50_ms": 1000 * percentile(p50s, 50) if p50s else None,
        "wait_p99_ms": 1000 * max(percentile(w, 99) for w in waits.values()) if waits else None,
        # Users compete only when every one of them has tries waiting (the ceiling runs' backlogs):
        # their shares of the window's tries. Below the capacity every user gets all they ask; the
        # index is then over their mean waits (a user whose tries wait longer is served worse).
        "jain": jain([done for _, done, _ in per_user]) if ceiling else jain([sum(w) / len(w) for w in waits.values()]),
        "lost": lost,
        "duplicated": duplicated,
        "tried_again": again,
        "tries": total,
        "per_user_done": sorted(done for _, done, _ in per_user),
    }


def run(pg: EmbeddedPostgres, cfg: dict, folder: Path) -> dict:
    """One configuration: start the nodes, measure a window, drain, stop; one row of the table."""
    url, users = run_database(pg)
    load = os.getloadavg()[0]  # the machine's load as the run starts (other sessions share it)
    demand, workers = cfg.get("demand"), cfg["workers"]
    render = 0.8 * workers / demand if demand else 0.0
    with ExitStack() as stack:
        bouncer = stack.enter_context(PgBouncer(pg.url(), pool_size=POOL)) if cfg["pooled"] else None
        dbname = url.rsplit("/", 1)[1]
        calls_url = bouncer.url(dbname) if bouncer else url
        if not demand:
            prefill(url, users, cfg["backlog"])
        spec = {"url": calls_url, "listen_url": url, "listener": cfg.get("listener", "process"),
                "render_seconds": render, "lease_seconds": cfg.get("lease", 10.0),
                "heartbeat_interval": cfg.get("heartbeat", 1.0), "poll_interval": 5.0,
                "storage": str(scratch_folder("fleet-storage-"))}  # fmt: skip
        sampler = Sampler(url)
        sampler.start()
        stack.callback(sampler.stop.set)
        nodes = start_nodes(spec, cfg["nodes"], workers, folder)
        stack.callback(stop_nodes, nodes)  # also on failure: no node outlives the run
        users_thread = Users(url, users, demand) if demand else None
        if users_thread:
            users_thread.start()
            stack.callback(users_thread.stop.set)
        time.sleep(cfg["warmup"])  # the fleet reaches its steady state: the window starts after it
        t0, cpu0 = time.time(), database_cpu_seconds(url)
        pooler0 = process_cpu(bouncer.process.pid) if bouncer else 0.0
        if cfg.get("kill"):
            time.sleep(cfg["window"] / 2)
            victim, _ = random.Random(workers).choice(nodes)
            victim.kill()  # SIGKILL: the node's tries are left with leases nobody renews
            time.sleep(cfg["window"] / 2)
        else:
            time.sleep(cfg["window"])
        t1, cpu = time.time(), database_cpu_seconds(url) - cpu0
        pooler = process_cpu(bouncer.process.pid) - pooler0 if bouncer else None
        if users_thread:
            users_thread.stop.set()
            users_thread.join()
        wait_drained(url, timeout=60 + 3 * render)
        # Peaks while the fleet works; stopping, each node's listener opens one short connection to
        # nudge its LISTEN session awake (Listener.unsubscribe), one over the bound for a moment.
        sampler.stop.set()
        sampler.join()
        results = stop_nodes(nodes)
    figures = window_figures(url, t0, t1, ceiling=not demand)
    drop_database(pg, url)
    claims = [s for r in results for at, s, _ in r["claims"] if t0 <= at <= t1]
    done = figures["done_in_window"]
    calls: dict[str, int] = {}
    for r in results:  # whole seconds inside the window, scaled to the window's length below
        for fn, second, n in r["calls"]:
            if t0 <= second and second + 1 <= t1:
                calls[fn] = calls.get(fn, 0) + n
    whole = max(1, int(t1) - int(t0) - 1)  # the whole seconds counted

    def per_try(fn: str) -> float | None:
        return calls.get(fn, 0) / whole * (t1 - t0) / done if done else None

    return {
        "run": cfg["name"], "workers": workers, "nodes": cfg["nodes"], "render s": round(render, 3),
        "path": "pgbouncer" if cfg["pooled"] else "direct", "listener": spec["listener"],
        "demand/s": figures["asked_in_window"] / (t1 - t0) if demand else None,
        "tries/s": done / (t1 - t0),
        "claim p50 ms": 1000 * percentile(claims, 50), "claim p99 ms": 1000 * percentile(claims, 99),
        "wait p50 ms": figures["wait_p50_ms"], "wait p99 ms": figures["wait_p99_ms"], "jain": figures["jain"],
        "server conns": sampler.connections, "client conns": sum(r["connections"] for r in results),
        "listeners": sampler.listeners,
        "db cpu ms/try": 1000 * cpu / done if done else None,
        "pooler cpu ms/try": 1000 * pooler / done if pooler is not None and done else None,
        "claims/try": per_try("claim_job"), "heartbeats/try": per_try("heartbeat_job"),
        "calls/try": sum(calls.values()) / whole * (t1 - t0) / done if done else None,
        "notify/try": max((r["notifications"] for r in results), default=0) / figures["tries"],
        "wakeups/try": sum(r["wakeups"] for r in results) / figures["tries"],
        "killed": "1 node" if cfg.get("kill") else "", "lost": figures["lost"], "dup": figures["duplicated"],
        "tried again": figures["tried_again"], "load": load, "per user done": figures["per_user_done"],
    }  # fmt: skip


def drop_database(pg: EmbeddedPostgres, url: str) -> None:
    with psycopg.connect(pg.admin_url("template1"), autocommit=True) as admin:
        admin.execute(f"drop database {url.rsplit('/', 1)[1]} with (force)")


def configurations(smoke: bool) -> list[dict]:
    if smoke:  # seconds: every path once (pooled + kill + node listener; direct + a listener a worker)
        return [
            {"name": "demand", "workers": 6, "nodes": 3, "demand": 20, "pooled": True, "kill": True,
             "warmup": 1.0, "window": 3.0, "lease": 3.0, "heartbeat": 0.5},
            {"name": "ceiling", "workers": 4, "nodes": 2, "backlog": 400, "pooled": False, "listener": "worker",
             "warmup": 0.5, "window": 1.5},
        ]  # fmt: skip
    runs = []
    for n in (10, 50, 200, 500):
        runs.append({"name": "demand", "workers": n, "nodes": 10, "demand": 50, "pooled": True,
                     "kill": True, "warmup": max(3.0, 2 * 0.8 * n / 50), "window": 20.0})  # fmt: skip
    for n in (10, 50, 200, 500):
        runs.append({"name": "ceiling", "workers": n, "nodes": 10, "backlog": 10000, "pooled": True,
                     "warmup": 3.0, "window": 10.0})  # fmt: skip
    for n in (10, 50, 200):  # direct: 4 server connections a worker (500 would need 2,000)
        runs.append({"name": "demand", "workers": n, "nodes": 10, "demand": 50, "pooled": False,
                     "warmup": max(3.0, 2 * 0.8 * n / 50), "window": 20.0})  # fmt: skip
        runs.append({"name": "ceiling", "workers": n, "nodes": 10, "backlog": 10000, "pooled": False,
                     "warmup": 3.0, "window": 10.0})  # fmt: skip
    runs.append({"name": "demand", "workers": 200, "nodes": 10, "demand": 50, "pooled": True, "listener": "worker",
                 "warmup": 6.4, "window": 20.0})  # fmt: skip
    return runs


def goals(rows: list[dict]) -> list[dict]:
    """The issue's aims, each checked on the rows it speaks of."""
    out = []
    for r in rows:
        what = f"{r['run']} {r['workers']} workers, {r['path']}, listener a {r['listener']}"
        if r["demand/s"]:
            gap = abs(r["tries/s"] - r["demand/s"]) / r["demand/s"]
            out.append({"figure": f"{what}: |tries/s - demand| / demand", "value": gap, "goal": "<= 0.10",
                        "met": gap <= 0.10})  # fmt: skip
        else:
            out.append({"figure": f"{what}: Jain (shares)", "value": r["jain"], "goal": ">= 0.95",
                        "met": r["jain"] >= 0.95})  # fmt: skip
        if r["workers"] == 200 and r["path"] == "pgbouncer" and r["render s"] and r["listener"] == "process":
            out.append({"figure": f"{what}: claim p99 ms", "value": r["claim p99 ms"], "goal": "< 50",
                        "met": r["claim p99 ms"] < 50})  # fmt: skip
        if r["path"] == "pgbouncer":
            out.append({"figure": f"{what}: server conns", "value": r["server conns"], "goal": f"<= {POOL} + listeners",
                        "met": r["server conns"] <= POOL + r["listeners"]})  # fmt: skip
        lost = r["lost"] + r["dup"]
        out.append({"figure": f"{what}: lost + duplicated", "value": lost, "goal": "0", "met": lost == 0})
    return out


def main(argv: list[str] | None = None) -> dict:
    args = parser(__doc__).parse_args(argv)
    folder = scratch_folder("fleet-")
    pg = fleet_cluster(args.smoke)
    try:
        rows = [run(pg, cfg, folder) for cfg in configurations(args.smoke)]
    finally:
        if not args.smoke:
            pg.stop()
    load = os.getloadavg()
    shown = [{k: v for k, v in r.items() if k != "per user done"} for r in rows]
    print_table(f"Fleet simulation ({USERS} users, PgBouncer pool {POOL}; load average {load[0]:.1f})", shown)
    checked = goals(rows)
    print_table("Fleet goals", checked)
    for goal in checked:
        check_goal("fleet", **goal)
    results = {"rows": rows, "goals": checked, "load_average": load}
    write_results("fleet", args, results)
    return results


if __name__ == "__main__":
    main()
