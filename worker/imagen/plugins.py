"""The one hook from the product to code it does not import: entry points.

The development tools (imagen.dev: the demo, tiny models built in code) register themselves in
pyproject.toml's entry points; the product looks them up by name here and never imports
imagen.dev (tests/test_layout.py fails on such an import)."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

# Model names built in code on first use: name -> callable(name) -> folder of a diffusers pipeline.
MODELS = "imagen.models"
# Commands the CLI offers when they are installed: name -> callable(argparse.Namespace) -> exit code.
COMMANDS = "imagen.commands"


def plugin(group: str, name: str) -> Any | None:
    """What an installed distribution registers as `name` in `group`, loaded; None if nothing is."""
    for found in entry_points(group=group, name=name):
        try:
            return found.load()
        except ModuleNotFoundError as exc:
            # Registered but not installed (the runtime wheel carries no imagen.dev); any other
            # missing module is a real error and is raised.
            if exc.name and found.module.startswith(exc.name):
                return None
            raise
    return None
