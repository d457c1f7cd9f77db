"""Issue 32 (8): users' text that `imagen status` prints reaches the operator's terminal with its
control characters escaped: a newline forges no row, ESC and OSC sequences neither clear the screen
nor set the window's title."""

from __future__ import annotations

from imagen.cli import main
from imagen.console.report import printable
from tests.test_cli import cli_env  # noqa: F401  (a fixture)
from tests.world import create_series

HOSTILE = "a cat\nfake-series  1  1  0  forged row\x1b[2J\x1b]0;pwned\x07\u202eevil\x9b31m"


def test_status_escapes_the_control_characters_of_a_prompt(cli_env, conn, user_a, capsys):  # noqa: F811
    create_series(conn, user_a, 1, prompt=HOSTILE)
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert not any(c in out for c in "\x1b\x07\x9b\u202e"), repr(out)
    lines = out.splitlines()
    assert len(lines) == 3, lines  # header, rule, the one series: no forged row
    assert "a cat\\nfake-series" in lines[2] and "\\x1b[2J\\x1b]0;pwned\\x07\\u202eevil\\x9b31m" in lines[2]


def test_printable_keeps_ordinary_text():
    assert printable("a kingfisher, 35 mm, ƒ/1.8 — 日本語 ★") == "a kingfisher, 35 mm, ƒ/1.8 — 日本語 ★"
    assert printable("tab\there") == "tab\\there"
