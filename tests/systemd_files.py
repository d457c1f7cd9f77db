"""systemd's files, read the way systemd reads them: a unit's sections and commands, and the
EnvironmentFile= syntax.

EnvironmentFile=: a port of
parse_env_file_internal() (systemd src/basic/env-file.c, the state machine load_env_file() runs for
a unit's EnvironmentFile=), so a test sees the values a worker started by the unit gets.

What people get wrong about it: a comment is a line whose first non-blank character is `#` or `;`,
and nothing else is; `KEY=value   # note` gives KEY the value `value   # note`. Quotes may open
and close anywhere in a value and are removed; a backslash before a newline continues the line.
Unlike a shell, `$VAR` is never expanded (EnvironmentFile=; environment.d's generator does expand).

`environment_d_generator()` runs systemd's own parser where it is installed (the
systemd-environment-d-generator binary, which shares this parser) so the port is checked
against the real thing."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
from pathlib import Path

COMMENTS = "#;"
WHITESPACE = " \t\n\r"
NEWLINE = "\n\r"
SHELL_NEED_ESCAPE = '"\\`$'
# env_name_is_valid(): systemd drops an assignment whose name is not a valid variable name.
VALID_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
GENERATOR = Path("/usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator")


def parse(text: str) -> dict[str, str]:
    """KEY → value, as systemd's load_env_file() gives them (a later assignment wins; invalid names
    are dropped, as exec_context_load_environment() drops them)."""
    pairs: dict[str, str] = {}
    state = "PRE_KEY"
    key: list[str] = []
    value: list[str] = []
    key_ws: int | None = None  # where trailing whitespace in the key starts
    value_ws: int | None = None  # where trailing whitespace in an unquoted value starts

    def push() -> None:
        name = "".join(key[:key_ws] if key_ws is not None else key)
        if VALID_NAME.fullmatch(name):
            pairs[name] = "".join(value)

    for c in text:
        if state == "PRE_KEY":
            if c in COMMENTS:
                state = "COMMENT"
            elif c not in WHITESPACE:
                state, key, key_ws = "KEY", [c], None
        elif state == "KEY":
            if c in NEWLINE:
                state, key = "PRE_KEY", []
            elif c == "=":
                state, value, value_ws = "PRE_VALUE", [], None
            else:
                if c not in WHITESPACE:
                    key_ws = None
                elif key_ws is None:
                    key_ws = len(key)
                key.append(c)
        elif state == "PRE_VALUE":
            if c in NEWLINE:
                push()
                state, key, value = "PRE_KEY", [], []
            elif c == "'":
                state = "SINGLE_QUOTE_VALUE"
            elif c == '"':
                state = "DOUBLE_QUOTE_VALUE"
            elif c == "\\":
                state = "VALUE_ESCAPE"
            elif c not in WHITESPACE:
                state = "VALUE"
                value.append(c)
        elif state == "VALUE":
            if c in NEWLINE:
                if value_ws is not None:
                    del value[value_ws:]
                push()
                state, key, value = "PRE_KEY", [], []
            elif c == "\\":
                state, value_ws = "VALUE_ESCAPE", None
            else:
                if c not in WHITESPACE:
                    value_ws = None
                elif value_ws is None:
                    value_ws = len(value)
                value.append(c)
        elif state == "VALUE_ESCAPE":
            state = "VALUE"
            if c not in NEWLINE:  # an escaped newline is eaten up entirely
                value.append(c)
        elif state == "SINGLE_QUOTE_VALUE":
            if c == "'":
                state = "PRE_VALUE"
            else:
                value.append(c)
        elif state == "DOUBLE_QUOTE_VALUE":
            if c == '"':
                state = "PRE_VALUE"
            elif c == "\\":
                state = "DOUBLE_QUOTE_VALUE_ESCAPE"
            else:
                value.append(c)
        elif state == "DOUBLE_QUOTE_VALUE_ESCAPE":
            state = "DOUBLE_QUOTE_VALUE"
            if c in SHELL_NEED_ESCAPE:
                value.append(c)
            elif c != "\n":  # other characters keep their backslash, as in a shell
                value += ["\\", c]
        elif state == "COMMENT":
            if c == "\\":
                state = "COMMENT_ESCAPE"
            elif c in NEWLINE:
                state = "PRE_KEY"
        elif state == "COMMENT_ESCAPE":
            state = "PRE_KEY" if c in NEWLINE else "COMMENT"

    if state in ("PRE_VALUE", "VALUE", "VALUE_ESCAPE", "SINGLE_QUOTE_VALUE", "DOUBLE_QUOTE_VALUE",
                 "DOUBLE_QUOTE_VALUE_ESCAPE"):  # fmt: skip
        if state == "VALUE" and value_ws is not None:
            del value[value_ws:]
        push()
    return pairs


def unit_sections(text: str) -> dict[str, list[tuple[str, str]]]:
    """[Section] → (Key, value) in file order (a key may repeat): comments are whole lines starting
    with # or ;, a backslash at the end of a line continues it (systemd.syntax(7))."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for line in re.sub(r"\\\n", " ", text).splitlines():
        line = line.strip()
        if not line or line[0] in COMMENTS:
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
        elif current is not None and "=" in line:
            key, value = line.split("=", 1)
            current.append((key.strip(), value.strip()))
    return sections


def unit_value(sections: dict[str, list[tuple[str, str]]], section: str, key: str) -> str:
    """The one value of a key that may be given once."""
    values = [v for k, v in sections.get(section, []) if k == key]
    if len(values) != 1:
        raise ValueError(f"[{section}] {key}= is given {len(values)} times; expected once")
    return values[0]


def command_line(value: str) -> list[str]:
    """An Exec*= line as the argv systemd runs: `$$` is a literal `$`, and words split as a shell
    would for these lines. systemd's own $VAR expansion and prefixes (-, @, +, !) are refused, so a
    unit that relies on them is not run differently from how systemd would run it."""
    if value[:1] in "-@+!:|":
        raise ValueError(f"command prefixes are not supported here: {value!r}")
    if "$" in value.replace("$$", ""):
        raise ValueError(f"systemd would expand a variable in {value!r}; write $$ for a literal $")
    return shlex.split(value.replace("$$", "$"))


def environment_assignments(value: str) -> dict[str, str]:
    """An Environment= line: space-separated KEY=value words, quotes allowed."""
    return dict(word.split("=", 1) for word in shlex.split(value))


def environment_d_generator(text: str) -> dict[str, str] | None:
    """The same file read by systemd's own parser (through systemd-environment-d-generator, with the
    file as the only environment.d entry), or None where systemd is not installed. The generator
    expands `$VAR`, which EnvironmentFile= does not: keep `$` out of what you compare."""
    if not GENERATOR.is_file():
        return None
    with tempfile.TemporaryDirectory() as home:
        folder = Path(home) / "environment.d"
        folder.mkdir()
        (folder / "50-test.conf").write_text(text)
        env = {"XDG_CONFIG_HOME": home, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        out = subprocess.run([str(GENERATOR)], env=env, capture_output=True, text=True, timeout=30, check=True).stdout
    # One KEY=value a line, the value shell-quoted where it needs to be.
    before = {"PATH"}  # inherited, not from the file
    lines = [line.split("=", 1) for line in out.splitlines() if "=" in line]
    return {k: shlex.split(v)[0] if v else "" for k, v in lines if k not in before and k in _assigned(text)}


def _assigned(text: str) -> set[str]:
    """Names the file assigns, by a loose look: filters out what the generator adds from elsewhere
    (/usr/lib/environment.d)."""
    return set(re.findall(r"^[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*=", text, re.M))
