"""Users' prompts stay out of the logs unless IMAGEN_LOG_PROMPTS is on, whatever library writes the
line: diffusers, for one, logs the part of a long prompt its text encoder cut off ("The following
part of your input was truncated because CLIP can only handle sequences up to 77 tokens: [...]"),
and transformers or the next library may write its own.

The renderer holds each prompt in `withheld(prompt)` while a pipeline runs; a filter on the log's
handlers (every library's records reach them: see log_format.use_log_format) rewrites any line from
outside imagen's own loggers that quotes it. Quoting is judged on words, case and punctuation
aside (a tokenizer gives back lowercased, re-spaced text): two consecutive words of the prompt, or
its last word, which every cut-off tail ends with. A library line withheld by mistake costs less
than a user's words in an operator's log."""

from __future__ import annotations

import itertools
import logging
import re
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

WORD = re.compile(r"\w+")
WITHHELD = "a line from %s quoting a user's prompt was withheld (IMAGEN_LOG_PROMPTS is off)"

_lock = threading.Lock()
_prompts: Counter[tuple[str, ...]] = Counter()


def words(text: str) -> tuple[str, ...]:
    return tuple(WORD.findall(text.lower()))


@contextmanager
def withheld(prompt: str) -> Iterator[str]:
    """While inside, no library's log line may quote `prompt` (which it gives back)."""
    key = words(prompt)
    with _lock:
        _prompts[key] += 1
    try:
        yield prompt
    finally:
        with _lock:
            _prompts[key] -= 1
            if _prompts[key] <= 0:
                del _prompts[key]


def quotes(message: tuple[str, ...], prompt: tuple[str, ...]) -> bool:
    if not prompt:
        return False
    said = set(itertools.pairwise(message))
    return prompt[-1] in message or any(pair in said for pair in itertools.pairwise(prompt))


class WithholdPrompts(logging.Filter):
    """On a handler: a record from outside imagen that quotes a prompt being rendered is rewritten."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "imagen" or record.name.startswith("imagen."):
            return True  # ours: a prompt only with IMAGEN_LOG_PROMPTS (loop/worker.py)
        with _lock:
            prompts = list(_prompts)
        if prompts:
            message = words(record.getMessage())
            if any(quotes(message, prompt) for prompt in prompts):
                record.msg, record.args, record.exc_info, record.exc_text = WITHHELD, (record.name,), None, None
        return True
