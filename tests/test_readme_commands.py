"""The README's local commands, run as written: `imagen dev` in the background (SIGINT ignored,
as CI starts it), the environment it prints pasted, the block that follows the README's
`<!-- tested: local-cli -->` marker run line after line in one shell in the repository's root (its
commands are `.venv/bin/imagen ...`, and a line may set a variable a later one uses), then `imagen
dev` stopped with SIGINT, leaving no process and no folder behind."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import threading
from pathlib import Path

from tests.workers import alive, ignore_sigint, process_tree, wait_until

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- tested: local-cli -->"


def block_after_marker(readme: Path) -> list[str]:
    """The commands of the fenced sh block right after the marker line (blank lines left out)."""
    lines = readme.read_text().splitlines()
    start = lines.index(MARKER) + 1
    assert lines[start].strip() == "```sh", f"{readme.name}: a ```sh block must follow {MARKER}"
    end = lines.index("```", start + 1)
    return [line for line in lines[start + 1 : end] if line.strip()]


class Output:
    """A process's output lines, read on a thread as they come."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._proc = proc
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def close(self) -> None:
        self._thread.join(timeout=10)  # the process has exited: its output ends
        self._proc.stdout.close()

    def text(self) -> str:
        return "\n".join(self.lines)


def printed_exports(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        words = shlex.split(line)
        if words[:1] == ["export"]:
            name, _, value = words[1].partition("=")
            found[name] = value
    return found


def test_the_readme_local_commands_run_as_written(tmp_path):
    commands = block_after_marker(ROOT / "README.md")
    assert commands and all(c.startswith(".venv/bin/imagen ") or re.match(r"[A-Z_]+=", c) for c in commands)
    written = set(re.findall(r"/tmp/[\w.-]+", "\n".join(commands)))  # files the block writes, removed after
    base = {k: v for k, v in os.environ.items() if not k.startswith(("IMAGEN_", "DATABASE_URL", "SUPABASE_"))}
    base |= {"HF_HUB_OFFLINE": "1", "XDG_DATA_HOME": str(tmp_path / "data")}
    dev = subprocess.Popen([str(ROOT / ".venv" / "bin" / "imagen"), "dev"], env=base, cwd=tmp_path,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           preexec_fn=ignore_sigint)  # fmt: skip
    output = Output(dev)
    try:
        wait_until(lambda: any("stops the worker and the database" in line for line in output.lines) or dev.poll(),
                   120, interval=0.1, what="imagen dev to print what to paste")  # fmt: skip
        assert dev.poll() is None, output.text()
        exports = printed_exports(output.lines)
        assert set(exports) == {"IMAGEN_DATABASE_URL", "IMAGEN_STORAGE_DIR"}, output.text()
        folder = Path(next(line for line in output.lines if "data in " in line).split("data in ")[1].split(" (")[0])
        children = process_tree(dev.pid)  # the worker and the database server
        shell_env = base | exports
        # One shell, as a person pastes the lines into one terminal; -x names the line that failed.
        script = "set -euo pipefail\n" + "\n".join(commands) + "\n"
        ran = subprocess.run(["bash", "-x", "-c", script], env=shell_env, cwd=ROOT, capture_output=True, text=True,
                             timeout=600)  # fmt: skip
        assert ran.returncode == 0, f"{ran.stdout[-2000:]}\n{ran.stderr[-3000:]}"
        assert children
        dev.send_signal(signal.SIGINT)  # ignored as inherited; imagen installs its own handler
        assert dev.wait(timeout=60) == 0, output.text()
    finally:
        if dev.poll() is None:
            dev.kill()
            dev.wait()
        output.close()
        for path in written:
            Path(path).unlink(missing_ok=True)
    wait_until(lambda: not alive(children), 30, what="the worker and the database to exit")
    assert not folder.exists()
