"""Small builders shared by the database tests: series created as a user, finished as the worker."""

from __future__ import annotations

import uuid

import psycopg
from psycopg.types.json import Jsonb

from imagen.console.users import acting_as, as_user
from imagen.jobs import Job


def create_series(conn: psycopg.Connection, user: uuid.UUID, n: int = 3, prompt: str = "a test") -> dict:
    with as_user(conn, user):
        return conn.execute("select imagen.create_series(%s, %s)", (prompt, n)).fetchone()[0]


def as_worker(conn: psycopg.Connection):
    return acting_as(conn, "service_role")


def claim(conn: psycopg.Connection, worker: str = "w1", lease: float = 60) -> dict | None:
    with as_worker(conn):
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        return cur.execute("select * from imagen.claim_job(%s, %s)", (worker, lease)).fetchone()


def complete(conn: psycopg.Connection, job: dict, worker: str = "w1") -> dict:
    with as_worker(conn):
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        return cur.execute(
            "select * from imagen.complete_job(%s, %s, 'imagen', %s, 100)",
            (job["id"], worker, f"{job['owner_id']}/{job['series_id'] or 'solo'}/{job['id']}.png"),
        ).fetchone()


def finish_all(conn: psycopg.Connection, worker: str = "w1") -> list[dict]:
    """Claims and completes every queued job; returns the image rows."""
    images = []
    while job := claim(conn, worker):
        images.append(complete(conn, job, worker))
    return images


def job_row(conn: psycopg.Connection, job_id) -> dict:
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute("select * from imagen.jobs where id = %s", (job_id,)).fetchone()


def create_tiny_series(
    conn: psycopg.Connection, user: uuid.UUID, n: int = 3, steps: int = 4, size: int = 256, seed: int | None = None
) -> dict:
    """A series for the tiny model, created as `user` the way the frontend does."""
    with as_user(conn, user):
        settings = {"model": "tiny", "width": size, "height": size, "steps": steps, "seed": seed}
        return conn.execute(
            "select imagen.create_series('a lighthouse in a storm', %s, %s)", (n, Jsonb(settings))
        ).fetchone()[0]


def make_job(seed: int, **kw) -> Job:
    """A Job as a claim would hand it out, without a database (for the loop and the renderer)."""
    fields = dict(
        id=uuid.uuid4(), owner_id=uuid.uuid4(), series_id=None, series_idx=None, prompt="a red fox",
        model="tiny", width=256, height=256, steps=4, style=None, seed=seed, attempts=1, max_attempts=3,
    )  # fmt: skip
    return Job.build(**{**fields, **kw})


def race_two_claimers(db_url: str) -> dict[str, list]:
    """Two connections claim at the same moment until the queue is empty: job ids per worker."""
    import threading

    claimed: dict[str, list] = {"w1": [], "w2": []}
    start = threading.Barrier(2)

    def worker(name: str) -> None:
        with psycopg.connect(db_url, autocommit=True) as c:
            start.wait()
            while job := claim(c, name):
                claimed[name].append(job["id"])

    threads = [threading.Thread(target=worker, args=(n,)) for n in claimed]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return claimed
