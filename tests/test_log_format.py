"""IMAGEN_LOG_FORMAT=json: every line one JSON object with its ids; prompts only when turned on."""

from __future__ import annotations

import io
import json
import logging
from contextlib import contextmanager
from urllib.parse import urlparse

from imagen.monitoring.log_format import JsonFormatter, event_name
from tests.workers import run_burst
from tests.world import create_tiny_series

PROMPT = "a lighthouse in a storm"  # what create_tiny_series asks for


@contextmanager
def json_log():
    """The imagen loggers' lines, as the worker writes them with IMAGEN_LOG_FORMAT=json."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("test-worker"))
    logger = logging.getLogger("imagen")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield out
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def test_every_json_line_parses_and_a_try_s_lines_carry_its_ids(conn, user_a, renderer, tmp_path, db_url):
    series = create_tiny_series(conn, user_a, n=2, steps=1)
    with json_log() as out:
        run_burst(db_url, renderer, tmp_path)
    text = out.getvalue()
    lines = [json.loads(line) for line in text.splitlines()]
    assert {"try_started", "try_done"} <= {line["event"] for line in lines}
    for line in lines:
        assert {"time", "level", "logger", "event", "worker", "message"} <= line.keys()
        assert line["worker"] == "test-worker"
        if line["event"].startswith("try_"):
            assert line["series_id"] == series["id"] and line["job_id"] in series["try_ids"], line
    done = [line for line in lines if line["event"] == "try_done"]
    assert sorted(line["idx"] for line in done) == [1, 2]
    assert all(isinstance(line["seconds"], float) and line["seconds"] > 0 for line in done)
    assert PROMPT not in text  # the users' words stay out of the log
    if password := urlparse(db_url).password:
        assert password not in text


def test_the_prompt_is_logged_only_when_the_operator_turns_it_on(conn, user_a, renderer, tmp_path, db_url):
    create_tiny_series(conn, user_a, n=1, steps=1)
    with json_log() as out:
        run_burst(db_url, renderer, tmp_path, log_prompts=True)
    started = [json.loads(line) for line in out.getvalue().splitlines() if '"event": "try_started"' in line]
    assert [line["prompt"] for line in started] == [PROMPT]


def test_event_names_are_the_message_s_leading_words():
    assert event_name("try done %s seconds=%.3f render_seconds=%.3f bytes=%d") == "try_done"
    assert event_name("worker %s ready transport=%s burst=%s") == "worker_ready"
    assert event_name("warm-up done: %d sizes in %.1f s (%s)") == "warm-up_done"
    assert event_name("%s") == "log"
