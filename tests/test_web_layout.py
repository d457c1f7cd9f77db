"""The web app's shape: no function in web/src runs past about 200 lines (a screen is small modules,
not one closure), measured with the TypeScript compiler's own parser (web/node_modules/typescript)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.database import REPO_ROOT

WEB = REPO_ROOT / "web"
MAX_LINES = 200

# Every function-like node (declarations, function expressions, arrows, methods, accessors) with
# its first and last line; a nested function counts inside its outer one too.
MEASURE = r"""
const { createRequire } = require("node:module");
const fs = require("node:fs");
const path = require("node:path");
const ts = createRequire(path.join(process.argv[1], "package.json"))("typescript");
const found = [];
for (const file of process.argv.slice(2)) {
  const source = ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const line = (pos) => source.getLineAndCharacterOfPosition(pos).line + 1;
  const nameOf = (node) => {
    if (node.name) return node.name.getText(source);
    const parent = node.parent;
    const named = parent && (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent));
    return named ? parent.name.getText(source) : "(anonymous)";
  };
  const visit = (node) => {
    if (ts.isFunctionLike(node) && node.body) {
      const first = line(node.getStart(source));
      const lines = line(node.end) - first + 1;
      found.push({ file: path.relative(process.argv[1], file), name: nameOf(node), first, lines });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
}
console.log(JSON.stringify(found));
"""


def function_lengths(files: list[str]) -> list[dict]:
    """Each function in these TypeScript files: file (relative to web/), name, first line, lines."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    run = subprocess.run([node, "-e", MEASURE, str(WEB), *files], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_no_function_in_the_web_app_is_over_200_lines():
    sources = sorted(str(p) for p in (WEB / "src").rglob("*.ts") if p.name != "database.types.ts")
    lengths = function_lengths(sources)
    assert len(lengths) > 50, "the parser found the app's functions"
    too_long = [f"{f['file']}:{f['first']} {f['name']} ({f['lines']} lines)" for f in lengths if f["lines"] > MAX_LINES]
    assert too_long == []


def test_a_long_function_is_measured_whole(tmp_path):
    body = "\n".join(f"  const x{i} = {i};" for i in range(MAX_LINES))
    long = tmp_path / "long.ts"
    long.write_text(f"export function outer(): void {{\n{body}\n  const inner = () => 1;\n  inner();\n}}\n")
    lengths = {f["name"]: f["lines"] for f in function_lengths([str(long)])}
    assert lengths == {"outer": MAX_LINES + 4, "inner": 1}
