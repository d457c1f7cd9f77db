"""The README's local commands, run as written: `imagen dev` in the background (SIGINT ignored,
as CI starts it), the environment it prints pasted, each line of the block that follows the
README's `<!-- tested: local-cli -->` marker run in a shell with `imagen` found on PATH in .venv,
then `imagen dev` stopped with SIGINT, leaving no process and no folder behind."""

from __future__ import annotations

import os
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
    assert commands and all(c.startswith("imagen ") for c in commands)
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
        shell_env = base | exports | {"PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{base['PATH']}"}
        another = tmp_path / "another-terminal"
        another.mkdir()
        for command in commands:
            ran = subprocess.run(["bash", "-c", command], env=shell_env, cwd=another, capture_output=True, text=True,
                                 timeout=300)  # fmt: skip
            assert ran.returncode == 0, f"{command}\n{ran.stdout[-2000:]}\n{ran.stderr[-2000:]}"
        assert children
        dev.send_signal(signal.SIGINT)  # ignored as inherited; imagen installs its own handler
        assert dev.wait(timeout=60) == 0, output.text()
    finally:
        if dev.poll() is None:
            dev.kill()
            dev.wait()
        output.close()
    wait_until(lambda: not alive(children), 30, what="the worker and the database to exit")
    assert not folder.exists()
