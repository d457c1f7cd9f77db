"""One root for the package's errors: every exception class the product defines derives from
imagen.errors.ImagenError (signals.Stopped, a BaseException like KeyboardInterrupt, aside)."""

from __future__ import annotations

import ast
from pathlib import Path

from imagen.console.series import TooManyUnfinished
from imagen.errors import ImagenError, NotFound
from imagen.transports.rpcs import RpcError

PACKAGE = Path(__file__).resolve().parents[1] / "worker" / "imagen"
BUILTIN_ROOTS = {"Exception", "ValueError", "LookupError", "RuntimeError", "KeyError", "OSError"}


def classes_on_builtin_exceptions(root: Path, files) -> set[str]:
    """Classes whose bases are only builtin exceptions (not ImagenError or one of its kind)."""
    found = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {b.id for b in node.bases if isinstance(b, ast.Name)}
                if bases & BUILTIN_ROOTS and not bases - BUILTIN_ROOTS:
                    found.add(f"{path.relative_to(root)}:{node.name}")
    return found


def product_files():
    return [p for p in PACKAGE.rglob("*.py") if "dev" not in p.relative_to(PACKAGE).parts]


def test_every_product_error_derives_from_the_root():
    assert classes_on_builtin_exceptions(PACKAGE, product_files()) == {"errors.py:ImagenError"}
    assert issubclass(RpcError, ImagenError) and issubclass(TooManyUnfinished, ImagenError)


def test_an_error_on_a_builtin_root_is_caught(tmp_path):
    stray = tmp_path / "stray.py"
    stray.write_text("class Oops(ValueError):\n    pass\n\n\nclass Fine(ImagenError, ValueError):\n    pass\n")
    assert classes_on_builtin_exceptions(tmp_path, [stray]) == {"stray.py:Oops"}


def test_not_found_is_still_a_lookup_error():
    # Callers that caught LookupError (the CLI) keep working.
    assert issubclass(NotFound, LookupError)
