"""Reading series back for people: the tries' state and queue position, as terminal tables.

Places and expected starts come from the view imagen.queue, the one statement of the queue order
(claim_next's fair turns); this module counts nothing itself."""

from __future__ import annotations

import uuid

import psycopg
from psycopg.rows import dict_row

from imagen.errors import NotFound
from imagen.jobs import TryStatus

TRIES_SQL = """
select j.id, j.series_idx, (j.settings ->> 'seed')::bigint as seed, j.status, j.progress,
       (j.settings ->> 'steps')::integer as steps, j.attempts, j.error,
       extract(epoch from coalesce(j.finished_at, now()) - j.started_at)::float as seconds,
       i.id as image_id, i.bucket, i.path, i.series_id as image_series_id,
       s.selected_image_id is not distinct from i.id and i.id is not null as winner,
       q.place as queue_position, q.place_in_line,
       extract(epoch from q.expected_start - now())::float as starts_in
from imagen.jobs j
join imagen.series s on s.id = j.series_id
left join imagen.images i on i.id = j.image_id
left join imagen.queue q on q.id = j.id
where j.series_id = %s
order by j.series_idx
"""

RECENT_SQL = """
select s.id, s.settings ->> 'prompt' as prompt, s.count, s.created_at,
       count(*) filter (where j.status = 'done') as done,
       count(*) filter (where j.status = any(imagen_private.unfinished_statuses())) as pending
from imagen.series s left join imagen.jobs j on j.series_id = s.id
group by s.id order by s.created_at desc limit %s
"""


def series_tries(conn: psycopg.Connection, series_id: uuid.UUID | str) -> list[dict]:
    rows = conn.cursor(row_factory=dict_row).execute(TRIES_SQL, (series_id,)).fetchall()
    if not rows:
        raise NotFound(f"series {series_id} not found")
    return rows


def recent_series(conn: psycopg.Connection, limit: int = 20) -> list[dict]:
    return conn.cursor(row_factory=dict_row).execute(RECENT_SQL, (limit,)).fetchall()


def recent_series_table(conn: psycopg.Connection) -> str:
    columns = [("series", "id"), ("tries", "count"), ("done", "done"), ("pending", "pending"), ("prompt", "prompt")]
    return format_table(recent_series(conn), columns)


def printable(text: str) -> str:
    """Users' text as a terminal shows it harmlessly: control characters (newlines that would forge
    rows, ESC and OSC sequences that clear the screen or set the window's title, bidi overrides)
    written as Python escapes."""
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii") for c in text)


def format_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """columns: (header, key). Plain text, aligned, for a terminal; every cell printable()."""
    cells = [[h for h, _ in columns]] + [
        ["" if r.get(k) is None else printable(str(r[k])) for _, k in columns] for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def tries_table(tries: list[dict], expected_starts: bool = True) -> str:
    """expected_starts=False: no "starts in" (no worker seems to run, so no estimate holds)."""
    rows = []
    for t in tries:
        state = t["status"]
        if state == TryStatus.RUNNING:
            state += f" {t['progress']}/{t['steps']}"
        elif state == TryStatus.QUEUED and t["queue_position"]:
            state += f" (#{t['queue_position']} in queue, #{t['place_in_line']} in its owner's line"
            if expected_starts and t["starts_in"] is not None:
                state += f", starts in ~{max(t['starts_in'], 0):.0f} s"
            state += ")"
        rows.append(
            {
                "idx": t["series_idx"],
                "seed": t["seed"],
                "state": state + (" ★" if t["winner"] else ""),
                "seconds": f"{t['seconds']:.2f}" if t["seconds"] is not None else None,
                "file": t["path"],
                "error": t["error"],
            }
        )
    return format_table(
        rows,
        [
            ("try", "idx"),
            ("seed", "seed"),
            ("state", "state"),
            ("seconds", "seconds"),
            ("file", "file"),
            ("error", "error"),
        ],
    )
