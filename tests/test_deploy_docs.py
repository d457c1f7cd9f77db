"""The worker's env file (deploy/worker.env.example, shown in docs/deploy.md) says what systemd
will read from it: every line parsed with systemd's own EnvironmentFile= rules (tests/systemd_files.py,
checked against systemd's parser where it is installed), every value checked, every name one the
worker reads. The unit names the files and folders the install script makes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from imagen.config import Settings
from imagen.dev.settings_table import variables
from tests import systemd_files
from tests.database import REPO_ROOT

EXAMPLE = REPO_ROOT / "deploy" / "worker.env.example"
UNIT = REPO_ROOT / "deploy" / "imagen-worker.service"
INSTALL = REPO_ROOT / "deploy" / "install-worker.sh"
GUIDE = REPO_ROOT / "docs" / "deploy.md"
# Names the worker honours that are not its own settings: the libraries' (docs/settings.md).
LIBRARY_VARIABLES = {"HF_HOME", "HF_TOKEN", "HF_HUB_OFFLINE", "CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS"}
PATH_VARIABLES = {"HF_HOME", "IMAGEN_COMPILE_CACHE_DIR", "IMAGEN_STORAGE_DIR"}
# The example as docs/deploy.md showed it before the file existed: a comment after a value.
OLD_EXAMPLE = """\
# /etc/imagen/worker.env  (mode 600: it holds the service-role key)
IMAGEN_TRANSPORT=supabase
SUPABASE_URL=https://<your-project-ref>.supabase.co
SUPABASE_SERVICE_ROLE_KEY=<service_role key from Project Settings → API>
IMAGEN_MODEL=black-forest-labs/FLUX.1-schnell
HF_HOME=/var/lib/imagen/hf          # where the model is cached (download once, or copy it there)
# IMAGEN_COMPILE=1                  # torch.compile the transformer: slower start, faster tries
"""


def known_variables() -> set[str]:
    return {v for name, field in Settings.model_fields.items() for v in variables(name, field)} | LIBRARY_VARIABLES


def problems(text: str) -> list[str]:
    """What is wrong with an env file for the unit, one line each; nothing for a good one."""
    found = []
    for key, value in systemd_files.parse(text).items():
        if "#" in value:
            found.append(f"{key}: systemd reads {value!r} (a comment is a whole line; this one is in the value)")
        if "$" in value:
            found.append(f"{key}: {value!r} has a $, which EnvironmentFile= does not expand")
        if value != value.strip() or not value:
            found.append(f"{key}: the value {value!r} is empty or has spaces around it")
        if re.search(r"['\"]", value) or re.search(rf"^\s*{key}\s*=\s*['\"]", text, re.M):
            found.append(f"{key}: quotes (docker run --env-file keeps them in the value)")
        if key not in known_variables():
            found.append(f"{key}: not a setting the worker reads (docs/settings.md)")
        if key in PATH_VARIABLES and not value.startswith("/"):
            found.append(f"{key}: {value!r} is not an absolute path")
    # A commented-out line meant to be uncommented must be right once it is.
    for line in re.findall(r"^#\s*([A-Z_]+=.*)$", text, re.M):
        if "#" in line:
            found.append(f"{line.split('=')[0]}: its commented-out example keeps a comment after the value")
    return found


SYSTEMD_CASES = [
    "A=1   # not a comment\n# a comment\n B = two words \nC=con\\\ntinued\n",
    'K=\'single # quoted\'\nL="dq \\"esc\\" \\n kept"  \nM=x"y z"w\n;semi=1\n  O  =  spaced value  \n',
    'P="a\\\nb"\nQ=a\\ b\\\\c\nS=last line without a newline',
    "bad-name=1\nT=\tt\t\nT=later wins\n",
]


@pytest.mark.parametrize("text", SYSTEMD_CASES)
def test_the_parser_reads_an_env_file_as_systemd_does(text):
    real = systemd_files.environment_d_generator(text)
    if real is None:
        pytest.skip("systemd is not installed here: its own parser cannot be compared")
    assert systemd_files.parse(text) == real


def test_a_comment_after_a_value_is_part_of_the_value():
    parsed = systemd_files.parse("HF_HOME=/var/lib/imagen/hf   # the cache\n# HF_TOKEN=x\n  ; also a comment\n")
    assert parsed == {"HF_HOME": "/var/lib/imagen/hf   # the cache"}


def test_the_old_example_fails_the_check_on_its_comment():
    found = problems(OLD_EXAMPLE)
    assert any(p.startswith("HF_HOME: systemd reads '/var/lib/imagen/hf          # where") for p in found), found
    assert any(p.startswith("IMAGEN_COMPILE: its commented-out example keeps a comment") for p in found), found


def test_the_example_env_file_has_nothing_systemd_would_read_otherwise():
    assert problems(EXAMPLE.read_text()) == []


def test_the_example_env_file_is_a_valid_configuration(monkeypatch):
    parsed = systemd_files.parse(EXAMPLE.read_text())
    assert parsed["IMAGEN_TRANSPORT"] == "supabase"
    assert {"SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "IMAGEN_MODEL", "HF_HOME"} <= parsed.keys()
    for key in [*Settings.model_fields, "DATABASE_URL", "SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY"]:
        monkeypatch.delenv(key if key.isupper() else f"IMAGEN_{key.upper()}", raising=False)
    for key, value in parsed.items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)
    assert settings.transport == "supabase" and settings.model == "black-forest-labs/FLUX.1-schnell"


def test_the_guide_shows_the_example_file_as_it_is():
    guide = GUIDE.read_text()
    blocks = re.findall(r"```ini\n(.*?)```", guide, re.S)
    assert EXAMPLE.read_text() in blocks, "docs/deploy.md must show deploy/worker.env.example verbatim"


def test_the_unit_reads_the_files_the_install_script_makes():
    sections = systemd_files.unit_sections(UNIT.read_text())
    service = "Service"
    script = INSTALL.read_text()
    assert systemd_files.unit_value(sections, service, "User") == "imagen"
    assert "useradd --system" in script and " imagen\n" in script
    env_file = systemd_files.unit_value(sections, service, "EnvironmentFile")
    assert env_file == "/etc/imagen/worker.env" and "$CONFIG/worker.env" in script and "CONFIG=/etc/imagen" in script
    argv = systemd_files.command_line(systemd_files.unit_value(sections, service, "ExecStart"))
    assert argv == ["/opt/imagen/.venv/bin/imagen", "worker"] and "PREFIX=/opt/imagen" in script
    workdir = Path(systemd_files.unit_value(sections, service, "WorkingDirectory"))
    assert workdir.as_posix() == "/var/lib/imagen" and "STATE=/var/lib/imagen" in script
    unit_env = systemd_files.environment_assignments(systemd_files.unit_value(sections, service, "Environment"))
    assert problems("".join(f"{k}={v}\n" for k, v in unit_env.items())) == []
    post = systemd_files.command_line(systemd_files.unit_value(sections, service, "ExecStartPost"))
    assert post[:2] == ["/bin/sh", "-c"] and "curl" in post[2] and "${IMAGEN_METRICS_PORT:-9464}/readyz" in post[2]
    assert "missing+=(curl)" in script


def test_a_unit_command_with_a_variable_systemd_would_expand_is_refused():
    with pytest.raises(ValueError, match="write \\$\\$ for a literal"):
        systemd_files.command_line("/bin/sh -c 'echo ${HOME}'")


DOCUMENTS = ["README.md", "CONTRIBUTING.md", "docs/deploy.md", "docs/settings.md"]


def anchors(markdown: str) -> set[str]:
    """GitHub's heading ids: lower case, punctuation but - and _ dropped, spaces to -."""
    headings = re.findall(r"^#{1,6} (.+)$", re.sub(r"```.*?```", "", markdown, flags=re.S), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_relative_link_reaches_a_file_and_heading_that_exist(document):
    path = REPO_ROOT / document
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text()):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and anchor not in anchors(linked.read_text()):
            broken.append(f"{target}: no heading #{anchor} in {linked.relative_to(REPO_ROOT)}")
    assert broken == []


def test_the_readme_starts_with_the_two_commands_and_never_migrates_a_hosted_database():
    readme = (REPO_ROOT / "README.md").read_text()
    first_block = re.search(r"```sh\n(.*?)```", readme, re.S).group(1)
    assert first_block.splitlines()[:2] == [
        "scripts/setup && .venv/bin/just demo    # set everything up, then run the demo end to end",
        ".venv/bin/just test                     # the whole test suite (ruff, deno and tsc checks, stale types,"
        " deno tests, pytest)",
    ]
    assert "imagen db migrate" not in readme
    guide = GUIDE.read_text()
    auth, worker = guide.index("## 2. Auth and Realtime"), guide.index("## 3. The worker")
    assert auth < worker and "SMTP" in guide[auth:worker]
