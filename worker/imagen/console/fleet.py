"""`imagen queue`: the operator's view of the fleet, as terminal tables. Every figure comes from
imagen.queue_overview(), one SQL function (service_role and postgres only); this module only
lays it out."""

from __future__ import annotations

import psycopg

from imagen.console.report import format_table

MODEL_COLUMNS = [("model", "model"), ("runnable", "runnable"), ("oldest wait", "wait")]
USER_COLUMNS = [("unfinished", "unfinished"), ("queued", "queued"), ("running", "running")]
WORKER_COLUMNS = [("worker", "worker_id"), ("tries", "tries"), ("since", "since"), ("lease until", "lease_expires_at")]


def queue_overview(conn: psycopg.Connection, top_users: int = 10, with_emails: bool = False) -> dict:
    return conn.execute("select imagen.queue_overview(%s, %s)", (top_users, with_emails)).fetchone()[0]


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    value = max(value, 0)
    return f"{value:.0f} s" if value < 120 else f"{value / 60:.0f} min" if value < 7200 else f"{value / 3600:.1f} h"


def overview_text(view: dict) -> str:
    models = [{**m, "wait": seconds(m["oldest_wait_seconds"])} for m in view["by_model"]]
    named_by = "email" if any(u["email"] for u in view["users"]) else "owner_id"
    return "\n".join([
        f"runnable {view['runnable']}  running {view['running']}  waiting out a retry backoff {view['waiting']}"
        f"  oldest wait {seconds(view['oldest_wait_seconds'])}",
        "\nrunnable tries by model",
        format_table(models, MODEL_COLUMNS),
        "\nunfinished tries by user",
        format_table(view["users"], [("user", named_by), *USER_COLUMNS]),
        "\nworkers holding leases",
        format_table(view["workers"], WORKER_COLUMNS),
    ])  # fmt: skip
