"""Issue 32 (7): a prompt longer than the text encoders take reaches no log line with
IMAGEN_LOG_PROMPTS off (the default) — diffusers logs the cut-off tail of it — in text and JSON
logs, text-to-image and image-to-image; with it on, the operator gets what they asked for."""

from __future__ import annotations

import logging
import sys
import uuid

import diffusers.utils.logging
import pytest
import transformers.utils.logging
from PIL import Image

from imagen.config import Settings
from imagen.jobs import Job
from imagen.monitoring.log_format import use_log_format

# Far over CLIP's 77 tokens and the tiny T5's limit; its tail is what diffusers would log.
LONG_PROMPT = " ".join(f"zebra{n} quokka{n}" for n in range(300)) + " lighthouse finale"


@pytest.fixture
def worker_logging(capfd):
    """Sets the logs up as `imagen worker` does (one handler on stderr, captured, then
    use_log_format), in place of whatever handlers the test's root logger has; all restored after."""
    loggers = [logging.getLogger(), logging.getLogger("diffusers"), logging.getLogger("transformers")]
    saved: list = []
    bars = diffusers.utils.logging.is_progress_bar_enabled(), transformers.utils.logging.is_progress_bar_enabled()

    def set_up(settings: Settings) -> None:
        saved.extend((logger, logger.level, list(logger.handlers), logger.propagate) for logger in loggers)
        loggers[0].handlers[:] = [logging.StreamHandler(sys.stderr)]
        loggers[0].setLevel(logging.INFO)
        use_log_format(settings)

    yield set_up
    for logger, level, handlers, propagate in saved:
        logger.setLevel(level)
        logger.handlers[:] = handlers
        logger.propagate = propagate
    for library, enabled in zip((diffusers.utils.logging, transformers.utils.logging), bars, strict=True):
        (library.enable_progress_bar if enabled else library.disable_progress_bar)()


def job(kind: str) -> Job:
    settings = {"prompt": LONG_PROMPT, "model": "tiny", "width": 64, "height": 64, "steps": 2, "seed": 1}
    if kind == "vary":
        settings |= {"strength": 60, "source_path": "x.png"}
    return Job.build(id=uuid.uuid4(), owner_id=uuid.uuid4(), kind=kind, **settings)


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("kind", ["generate", "vary"])
def test_a_long_prompt_reaches_no_log_line(renderer, worker_logging, capfd, log_format, kind):
    worker_logging(Settings(log_format=log_format, log_prompts=False))
    renderer._prompt_cache = None
    inputs = {"source": Image.new("RGB", (64, 64), "gray")} if kind == "vary" else {}
    renderer.render(job(kind), **inputs)
    err = capfd.readouterr().err
    assert "quokka" not in err.lower() and "lighthouse" not in err.lower() and "finale" not in err.lower(), err
    assert "quoting a user's prompt was withheld" in err  # diffusers did try to log it


def test_with_prompt_logging_on_the_library_line_is_left_alone(renderer, worker_logging, capfd):
    worker_logging(Settings(log_format="text", log_prompts=True))
    renderer._prompt_cache = None
    renderer.render(job("generate"))
    err = capfd.readouterr().err
    assert "finale" in err.lower(), err
