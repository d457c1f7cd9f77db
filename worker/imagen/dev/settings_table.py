"""docs/settings.md, generated from imagen.config.Settings: every setting's variable, default and
description, stated once in the code and shown here.

    python -m imagen.dev.settings_table           write docs/settings.md
    python -m imagen.dev.settings_table --check   exit 1 if the committed table is stale
"""

from __future__ import annotations

import argparse
import difflib
import sys
import types
import typing
from enum import Enum
from pathlib import Path

from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from imagen.config import SETTING_GROUPS, Settings

TABLE = Path(__file__).resolve().parents[3] / "docs" / "settings.md"

HEADER = """\
# Settings

<!-- Generated from worker/imagen/config.py by `python -m imagen.dev.settings_table`; `just test`
     fails when it is stale. Edit the descriptions there, then run it again. -->

Every command (`imagen worker`, `imagen webhooks`, `imagen submit`, ...) reads these from its
environment, or from a `.env` file in the folder it is started in (the environment wins). The
systemd unit reads them from `/etc/imagen/worker.env` (`deploy/worker.env.example`); the worker
image and Kubernetes from the container's environment. Secrets are never logged.

A bad value stops the command with one line that names the variable, and exit code 2; so does an
`IMAGEN_` variable that names no setting, naming the closest one (`IMAGEN_MODLE is not a setting
(did you mean IMAGEN_MODEL?)`). The worker stops the same way, before the model loads, on
credentials the project or database refuses (a wrong key, the anon key, a login PostgreSQL
refuses) and on a database without the migrations.

Besides these, the worker honours the variables of the libraries it runs: `HF_HOME` (where model
weights are cached; FLUX.1-schnell takes about 34 GB), `HF_TOKEN` (for gated models),
`HF_HUB_OFFLINE=1` (never reach the hub), `CUDA_VISIBLE_DEVICES`.

"""
TABLE_HEAD = "| Variable | Default | What it does |\n| --- | --- | --- |\n"


def variables(name: str, field: FieldInfo) -> list[str]:
    """The environment variables a field is read from, the preferred one first."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    if isinstance(alias, str):
        return [alias]
    return [f"{Settings.model_config['env_prefix']}{name}".upper()]


def shown(value: object) -> str:
    """A default as it would be written in the environment."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, tuple) and all(isinstance(v, tuple) for v in value):
        return ",".join("x".join(str(n) for n in size) for size in value)
    return str(value)


def default_text(field: FieldInfo) -> str:
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if "shown_default" in extra:
        return str(extra["shown_default"])
    if field.default is None or field.default is PydanticUndefined:
        return "—"
    return f"`{shown(field.default)}`"


def choices(annotation: object) -> list[str]:
    """The values a Literal setting (optional or not) accepts."""
    if typing.get_origin(annotation) is typing.Literal:
        return [str(v) for v in typing.get_args(annotation)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [c for arg in typing.get_args(annotation) for c in choices(arg)]
    return []


def is_secret(annotation: object) -> bool:
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


def row(name: str, field: FieldInfo) -> str:
    if not field.description:
        raise ValueError(f"Settings.{name} has no description: add Field(description=...) in imagen/config.py")
    what = field.description.replace("|", "\\|").replace("\n", " ")
    if options := choices(field.annotation):
        listed = ", ".join(f"`{o}`" for o in options)
        what += f" One of {listed}."
    if is_secret(field.annotation) and "Secret" not in what:
        what += " Secret."
    names = " or ".join(f"`{v}`" for v in variables(name, field))
    return f"| {names} | {default_text(field)} | {what} |\n"


def sections(settings: type[Settings]) -> list[tuple[str, list[str]]]:
    """(heading, field names): a section a group of Settings, in SETTING_GROUPS' order, with its
    docstring's first line as the heading; fields of no group (a subclass's) last."""
    found = [(group.__doc__.strip().split("\n")[0], [n for n in group.model_fields if n in settings.model_fields])
             for group in SETTING_GROUPS]  # fmt: skip
    grouped = {name for _, names in found for name in names}
    if rest := [name for name in settings.model_fields if name not in grouped]:
        found.append(("Other settings.", rest))
    return found


def render(settings: type[Settings] = Settings) -> str:
    parts = [HEADER.rstrip("\n") + "\n"]
    for heading, names in sections(settings):
        title, _, words = heading.partition(": ")
        parts.append(f"\n## {title.capitalize().rstrip('.')}\n\n{words[:1].upper() + words[1:]}\n\n{TABLE_HEAD}")
        parts += [row(name, settings.model_fields[name]) for name in names]
    return "".join(parts)


def main(argv: list[str] | None = None, settings: type[Settings] = Settings) -> int:
    parser = argparse.ArgumentParser(prog="python -m imagen.dev.settings_table", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed table differs")
    parser.add_argument("--output", type=Path, default=TABLE, help=f"default: {TABLE}")
    args = parser.parse_args(argv)
    text = render(settings)
    if not args.check:
        args.output.write_text(text)
        print(f"settings_table: wrote {args.output}")
        return 0
    committed = args.output.read_text() if args.output.exists() else ""
    if committed == text:
        return 0
    diff = difflib.unified_diff(committed.splitlines(), text.splitlines(), str(args.output), "generated", lineterm="")
    print("\n".join(diff), file=sys.stderr)
    print(f"settings_table: {args.output} is stale; run `python -m imagen.dev.settings_table`", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
