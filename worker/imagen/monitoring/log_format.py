"""Log lines for machines (IMAGEN_LOG_FORMAT=json): one JSON object a line.

The worker's text lines already carry their facts as key=value (`try done job_id=… series_id=…
idx=2 seconds=1.234`); the JSON formatter lifts those pairs into fields, so one log call serves
both formats and a new line needs nothing here. Each object has time (UTC), level, logger, event
(the message's leading words: "try_done"), worker, message, the pairs (numbers as numbers) and,
with an exception, its traceback. Prompts are never logged unless IMAGEN_LOG_PROMPTS is on.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

from imagen.config import Settings
from imagen.monitoring.prompt_filter import WithholdPrompts

# key=value, the value up to the next space (or a JSON string: prompt="…").
PAIR = re.compile(r'(?<![\w.=])([a-z_]+)=("(?:[^"\\]|\\.)*"|\S+)')
EVENT_WORDS = 4


def event_name(template: str) -> str:
    """The message's leading words, before its first key=value or colon: "try_done"."""
    words = []
    for token in template.split():
        if "=" in token:
            break
        if "%" not in token:
            words.append(re.sub(r"[^\w-]", "", token))
        if token.endswith(":") or len(words) == EVENT_WORDS:
            break
    return "_".join(w for w in words if w).lower() or "log"


def parse_value(text: str) -> object:
    if text.startswith('"'):
        return json.loads(text)
    text = text.rstrip(",;:)")
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"True": True, "False": False, "None": None}.get(text, text)


class JsonFormatter(logging.Formatter):
    def __init__(self, worker: str) -> None:
        super().__init__()
        self.worker = worker

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": event_name(str(record.msg)),
            "worker": self.worker,
            "message": message,
        }
        for key, text in PAIR.findall(message):
            line.setdefault(key, parse_value(text))
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def use_log_format(settings: Settings) -> None:
    """Every library's records through the root logger's handlers, and from now on: with
    IMAGEN_LOG_FORMAT=json, as JSON lines (nothing else reaches stderr as text); unless
    IMAGEN_LOG_PROMPTS is on, with no line that quotes a prompt being rendered (prompt_filter)."""
    # diffusers and transformers log through handlers of their own: their records go through ours
    # instead, so one filter and one format see every line. (The worker imports both anyway,
    # before its model loads.)
    import diffusers.utils.logging
    import transformers.utils.logging

    for library in (diffusers.utils.logging, transformers.utils.logging):
        library.disable_default_handler()
        library.enable_propagation()
        if settings.log_format == "json":
            library.disable_progress_bar()  # the bars while a model loads are not JSON
    for handler in logging.getLogger().handlers:
        if settings.log_format == "json":
            handler.setFormatter(JsonFormatter(settings.worker_id))
        if not settings.log_prompts and not any(isinstance(f, WithholdPrompts) for f in handler.filters):
            handler.addFilter(WithholdPrompts())
