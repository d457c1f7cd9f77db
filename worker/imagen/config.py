"""Settings from the environment (prefix IMAGEN_) or a `.env` file in the current folder (the
folder the command runs in; the environment wins over it). Secrets are SecretStr, so they print as
'**********' in logs and reprs. An IMAGEN_ variable that names no setting stops every command that
loads settings: a typo must not fall back to a default silently (IMAGEN_MODLE=tiny loading FLUX)."""

from __future__ import annotations

import difflib
import os
import socket
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Kept importable from here, where callers have always found them.
from imagen.errors import ConfigError as ConfigError
from imagen.errors import ModelLoadError as ModelLoadError
from imagen.jobs import DEFAULT_PROGRESS_RATE
from imagen.rendering.memory import MemoryModeSetting, check_combination

DEFAULT_MODEL = "black-forest-labs/FLUX.1-schnell"
ENV_FILE = ".env"
# IMAGEN_ variables read by something other than Settings: `imagen db autoscaler-login`, and the
# repository's setup, test and CI tooling (which pass their environment on to the workers they start).
OTHER_VARIABLES = frozenset({
    "IMAGEN_AUTOSCALER_PASSWORD", "IMAGEN_DOCKER_SOCK", "IMAGEN_DOCKER_ROOT", "IMAGEN_SETUP_NO_DOCKER",
    "IMAGEN_TEST_LOCAL_POSTGRES", "IMAGEN_TEST_POSTGRES_IMAGE", "IMAGEN_ARTIFACTS",
})  # fmt: skip


def default_storage_dir() -> Path:
    """Where the postgres transport keeps pictures unless IMAGEN_STORAGE_DIR says otherwise: the
    user's data folder ($XDG_DATA_HOME/imagen/images, else ~/.local/share/imagen/images), the same
    whichever folder a command starts in, so `imagen sheet` finds what the worker wrote."""
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "imagen" / "images"


# The sizes the web app offers (web/src/rules.ts SIZE_PRESETS), width x height.
WEB_APP_SIZES = ((1024, 1024), (1248, 832), (832, 1248), (1152, 864), (864, 1152), (1280, 720), (720, 1280))


def parse_sizes(value: object) -> object:
    """'1024x1024,1248x832' (IMAGEN_SIZES) → ((1024, 1024), (1248, 832)); anything else as it is."""
    if not isinstance(value, str):
        return value
    sizes = []
    for item in value.replace(" ", "").split(","):
        if not item:
            continue
        width, sep, height = item.lower().partition("x")
        if not (sep and width.isdigit() and height.isdigit()):
            raise ValueError(f"{item!r} is not WIDTHxHEIGHT (sizes are listed as 1024x1024,1248x832)")
        sizes.append((int(width), int(height)))
    if any(w <= 0 or h <= 0 for w, h in sizes):
        raise ValueError("every width and height must be positive")
    return tuple(sizes)


def model_folder(model: str) -> Path | None:
    """The folder a model setting names, checked for a pipeline (ValueError if it holds none);
    None for a hub id or the name of a model built in code (a plugin's). A setting names a folder
    when it starts with '.', '/' or '~', or exists. Needs no torch, so a bad one stops a worker
    before the seconds that importing torch takes."""
    from imagen.plugins import MODELS, plugin

    if plugin(MODELS, model) is not None or not (model.startswith((".", "/", "~")) or Path(model).exists()):
        return None
    folder = Path(model).expanduser()
    if not (folder / "model_index.json").is_file():
        raise ValueError(f"{model!r}: no diffusers pipeline there (model_index.json missing or unreadable)")
    return folder


class QueueSettings(BaseSettings):
    """The queue: where it is, and how a worker takes tries from it and hands them back."""

    transport: Literal["postgres", "supabase"] = Field(
        default="postgres",
        description="How the worker reaches the queue: `postgres` (a direct database connection, LISTEN/NOTIFY, "
        "pictures on local disk) or `supabase` (the project URL and secret key: PostgREST, Realtime, Storage).",
    )
    database_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("IMAGEN_DATABASE_URL", "DATABASE_URL"),
        description="The postgres transport, `imagen webhooks`, `imagen queue` and the commands for people: a "
        "`postgresql://` URL. The worker's calls may go through a transaction pooler (Supavisor on port 6543, "
        "PgBouncer in transaction mode); its LISTEN may not: see IMAGEN_LISTEN_DATABASE_URL. Secret.",
    )
    listen_database_url: SecretStr | None = Field(
        default=None,
        description="postgres transport: the direct (`db.<project-ref>.supabase.co:5432`) or session-pooler "
        "connection for the worker process's one LISTEN session, shared by all its workers; a transaction "
        "pooler here is refused at start. Default: IMAGEN_DATABASE_URL. Secret.",
    )
    supabase_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("IMAGEN_SUPABASE_URL", "SUPABASE_URL"),
        description="supabase transport: the project URL, `https://<project-ref>.supabase.co`.",
    )
    # SUPABASE_SECRET_KEY is the same setting under the dashboard's new name.
    supabase_service_role_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "IMAGEN_SUPABASE_SERVICE_ROLE_KEY",
            "SUPABASE_SERVICE_ROLE_KEY",
            "IMAGEN_SUPABASE_SECRET_KEY",
            "SUPABASE_SECRET_KEY",
        ),
        description="supabase transport: the project's secret key (`sb_secret_...`, Project Settings → API Keys) "
        "or its legacy `service_role` JWT; a publishable or `anon` key is refused at start. Secret.",
    )
    # Absolute once loaded: a relative IMAGEN_STORAGE_DIR is taken from the folder the command starts in.
    storage_dir: Path = Field(
        default_factory=default_storage_dir,
        description="postgres transport: the folder pictures are written to, as "
        "`{owner}/{series_id or solo}/{job_id}.png`, the same whichever folder a command starts in, so "
        "`imagen sheet` finds what the worker wrote (a relative path is taken from the folder it starts in).",
        json_schema_extra={"shown_default": "`$XDG_DATA_HOME/imagen/images` (`~/.local/share/imagen/images`)"},
    )
    worker_id: str = Field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}",
        description="This worker's name in `jobs.leased_by`, the logs and the metrics.",
        json_schema_extra={"shown_default": "`{hostname}-{pid}`"},
    )
    poll_interval: float = Field(default=2.0, gt=0, description="Seconds between claims when no wake-up arrives.")
    lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A try whose worker stops heartbeating is handed to another worker after this many seconds.",
    )
    heartbeat_interval: float = Field(
        default=1.0,
        gt=0,
        description="Seconds between heartbeats (cancel checks; a lease is renewed once under half of it is "
        "left); under half of `IMAGEN_LEASE_SECONDS`.",
    )
    retry_backoff_seconds: float = Field(
        default=2.0, ge=0, description="The first retry's delay after a failed render; doubles per attempt."
    )
    request_timeout: float = Field(
        default=30.0,
        gt=0,
        description="supabase transport: a request with no answer after this many seconds is given up and retried.",
    )
    realtime_watchdog_interval: float = Field(
        default=5.0,
        gt=0,
        description="supabase transport: seconds between checks of the Realtime connection (a dead one is rebuilt).",
    )

    @field_validator("storage_dir")
    @classmethod
    def _storage_dir_is_absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @model_validator(mode="after")
    def _heartbeat_fits_the_lease(self) -> QueueSettings:
        # A heartbeat renews the lease only once less than half of it is left (migration
        # 20261128110000): beats further apart than that would let it run out.
        if self.heartbeat_interval >= self.lease_seconds / 2:
            raise ValueError(
                f"IMAGEN_HEARTBEAT_INTERVAL ({self.heartbeat_interval:g} s) must be under half of "
                f"IMAGEN_LEASE_SECONDS ({self.lease_seconds:g} s)"
            )
        return self


class RenderSettings(BaseSettings):
    """The model: what a worker renders with, where its weights live, and how fast it renders."""

    model: str = Field(
        default=DEFAULT_MODEL,
        description="The diffusers pipeline loaded once and kept resident: a Hugging Face hub id, a local pipeline "
        "folder (a path starting with `/`, `.` or `~`), or `tiny` / `tiny-sdxl` (random-weight test models built "
        "in code, from a checkout).",
    )
    claim_models: str | None = Field(
        default=None,
        description="The model ids whose tries this worker claims, comma-separated; unset: `IMAGEN_MODEL` alone. A "
        "worker loading a local copy names the id it stands for (`IMAGEN_MODEL=/models/flux-schnell`, "
        "`IMAGEN_CLAIM_MODELS=black-forest-labs/FLUX.1-schnell`); `*`: every model (a development stack, never a "
        "fleet with several models).",
    )
    device: str | None = Field(
        default=None,
        description="The torch device to render on (`cuda`, `cuda:1`, `cpu`).",
        json_schema_extra={"shown_default": "`cuda` if available, else `cpu`"},
    )
    dtype: Literal["bfloat16", "float16", "float32"] | None = Field(
        default=None,
        description="The precision of the weights and the render.",
        json_schema_extra={"shown_default": "`bfloat16` on CUDA, else `float32`"},
    )
    # A compiling worker renders every size once before it claims (DiffusersRenderer.warm_up).
    compile: bool = Field(
        default=False,
        description="`torch.compile` the denoiser: a slower start (every size in `IMAGEN_SIZES` is compiled before "
        "the first claim, so no try waits on a compile), faster tries.",
    )
    compile_scope: Literal["blocks", "model"] = Field(
        default="blocks",
        description="With `IMAGEN_COMPILE`: `blocks` compiles the transformer's repeated blocks, one compile a kind "
        "(on the CPU half the cold compile of `model` with the same step times, bench/RESULTS.md §9.1); `model` "
        "the whole denoiser as one graph.",
    )
    compile_dynamic: bool = Field(
        default=False,
        description="With `IMAGEN_COMPILE`: one dynamic-shape graph for every size instead of one specialised graph "
        "a size (faster warm starts, §9.1; the dynamic one made 1024² 2-3 % slower on an H200, §4).",
    )
    compile_mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] | None = Field(
        default=None,
        description="With `IMAGEN_COMPILE`: torch.compile's mode (`max-autotune` adds kernel autotuning and CUDA "
        "graphs on a GPU); unset: torch's default.",
    )
    compile_vae: bool = Field(
        default=False, description="With `IMAGEN_COMPILE`: compile the VAE's decoder too (channels-last)."
    )
    attention_backend: str | None = Field(
        default=None,
        description="A diffusers attention backend for the denoiser (`_native_cudnn`, `_native_flash`, ...); unset: "
        "diffusers' default (torch's scaled_dot_product_attention).",
    )
    compile_cache_dir: Path | None = Field(
        default=None,
        description="Inductor's cache folder (compiled graphs, kernels, autotuning): a worker restarted on the same "
        "folder reuses them instead of compiling again. Unset: torch's own (`TORCHINDUCTOR_CACHE_DIR`, else "
        "`/tmp/torchinductor_<user>`, which a container restart or the unit's PrivateTmp loses).",
    )
    sizes: Annotated[tuple[tuple[int, int], ...], NoDecode] = Field(
        default=WEB_APP_SIZES,
        description="The picture sizes this worker serves, `WIDTHxHEIGHT` comma-separated (the web app's presets); "
        "a compiling worker warms up each.",
    )
    quantize: Literal["none", "float8"] = Field(
        default="none",
        description="A lossy speed-up, never on by default: `float8` quantizes the transformer's linear layers with "
        "torchao (`pip install 'imagen[fp8]'`); bench/quality_gate.py measures what it changes in the pictures.",
    )
    # GiB free FLUX.1-schnell needs at 1024² in each mode: rendering/memory.py and RESULTS §9.4.
    memory_mode: MemoryModeSetting = Field(
        default="auto",
        description="Where the weights live on a card too small for the whole model (GiB free FLUX.1-schnell needs "
        "at 1024²): `full` (35.4); `text-offload`, the text encoders streamed once a prompt (27.3); "
        "`float8-storage`, lossy (27.4); `float8-text-offload`, lossy, a 24 GB card (19.3); `model-offload` "
        "(26.1); `sequential-offload`, the slowest (5.0). `auto`: the fastest lossless mode that fits the card's "
        "free memory at start; `full` without a GPU. Some refuse `IMAGEN_COMPILE` or `IMAGEN_QUANTIZE`.",
    )

    @field_validator("sizes", mode="before")
    @classmethod
    def _parse_sizes(cls, value: object) -> object:
        return parse_sizes(value)

    @field_validator("model")
    @classmethod
    def _a_model_folder_holds_a_pipeline(cls, value: str) -> str:
        model_folder(value)
        return value

    @model_validator(mode="after")
    def _memory_mode_combines(self) -> RenderSettings:
        if self.memory_mode != "auto":
            try:
                check_combination(self.memory_mode, compile=self.compile, quantize=self.quantize)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return self


class OperationsSettings(BaseSettings):
    """What leaves the worker: progress, webhooks, metrics and logs."""

    # NOTIFY, the postgres transport's progress channel, has no room for a preview.
    previews: bool = Field(
        default=True,
        description="supabase transport: send a JPEG of each step's latents (under 10 kB) with its Broadcast progress.",
    )
    progress_rate: float = Field(
        default=DEFAULT_PROGRESS_RATE,
        gt=0,
        description="Progress messages a second at most, per worker (steps in between are coalesced; a refused "
        "send pauses them with back-off): Realtime counts each once sent and once per viewer against the "
        "project's quota (Free 100 a second); the default keeps 10 workers with 2 viewers each at 60 "
        "(docs/deploy.md).",
    )
    webhook_timeout: float = Field(
        default=10.0, gt=0, description="`imagen webhooks`: seconds one delivery may wait for its endpoint."
    )
    webhook_threads: int = Field(default=16, gt=0, description="`imagen webhooks`: deliveries at once.")
    # Off: users' URLs must not reach the deliverer's own network.
    webhook_allow_private_addresses: bool = Field(
        default=False,
        description="`imagen webhooks`: deliver to endpoints that resolve to loopback, private or link-local "
        "addresses (for a private network).",
    )
    # Off by default: workers sharing a host each need a port of their own, and a probe port that
    # cannot be bound must stop the worker, not be skipped; the deploy files turn it on.
    metrics: bool = Field(
        default=False,
        description='Serve `/metrics`, `/healthz` and `/readyz` (docs/deploy.md, "Watching the fleet"); the '
        "systemd unit and the Kubernetes manifest turn it on.",
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        description="Where they listen: `0.0.0.0` where a scraper or kubelet reaches the worker from outside.",
    )
    metrics_port: int = Field(default=9464, ge=0, le=65535, description="Their port (`0`: any free one, logged).")
    metrics_queue_interval: float = Field(
        default=15.0, gt=0, description="Seconds between reads of the queue's depth for the metrics (never per scrape)."
    )
    health_stall_seconds: float = Field(
        default=120.0,
        gt=0,
        description="`/healthz` fails once the loop has not ticked (an iteration, a claim, a render step) this long.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="`json`: one JSON object a line (time, level, event, worker, ids, seconds) for log pipelines.",
    )
    log_prompts: bool = Field(
        default=False,
        description="Put each try's prompt in its `try started` line (the users' words: off unless the operator "
        "wants them).",
    )


class Settings(OperationsSettings, RenderSettings, QueueSettings):
    """Every setting, from IMAGEN_* variables (a few take a second name) or a `.env` file in the current
    folder. docs/settings.md is generated from the descriptions (`python -m imagen.dev.settings_table`),
    a section a group above; `shown_default` is what it says where the default is computed at start.
    The bases list the groups last first: pydantic takes fields from the last base first."""

    model_config = SettingsConfigDict(env_prefix="IMAGEN_", env_file=ENV_FILE, extra="ignore")

    def require_database_url(self) -> str:
        if self.database_url is None:
            raise ConfigError("no database: set IMAGEN_DATABASE_URL (or DATABASE_URL) to a postgres:// URL")
        return self.database_url.get_secret_value()

    def listen_url(self) -> str:
        """Where the postgres transport's LISTEN goes: IMAGEN_LISTEN_DATABASE_URL, else the calls' URL."""
        url = self.listen_database_url or self.database_url
        if url is None:
            raise ConfigError("no database: set IMAGEN_DATABASE_URL (or DATABASE_URL) to a postgres:// URL")
        return url.get_secret_value()


# The groups, in the order docs/settings.md shows them.
SETTING_GROUPS = (QueueSettings, RenderSettings, OperationsSettings)


def models_claimed(settings: Settings) -> tuple[str, ...] | None:
    """The model ids this worker claims tries of (IMAGEN_CLAIM_MODELS, else IMAGEN_MODEL); None: every model."""
    if settings.claim_models is None:
        return (settings.model,)
    if settings.claim_models.strip() == "*":
        return None
    return tuple(m.strip() for m in settings.claim_models.split(",") if m.strip())


def known_variables() -> frozenset[str]:
    """Every IMAGEN_ name something reads: each setting's, its aliases, and OTHER_VARIABLES."""
    names = set(OTHER_VARIABLES)
    for name, field in Settings.model_fields.items():
        names.add(f"IMAGEN_{name.upper()}")
        if isinstance(field.validation_alias, AliasChoices):
            names.update(str(choice).upper() for choice in field.validation_alias.choices)
    return frozenset(n for n in names if n.startswith("IMAGEN_"))


def unknown_variables() -> list[str]:
    """Lines naming each IMAGEN_ variable, in the environment or ./.env, that nothing reads."""
    from dotenv import dotenv_values

    found = {name for name in os.environ if name.upper().startswith("IMAGEN_")}
    if Path(ENV_FILE).is_file():
        found |= {name for name in dotenv_values(ENV_FILE) if name.upper().startswith("IMAGEN_")}
    known = known_variables()
    problems = []
    for name in sorted(n for n in found if n.upper() not in known):
        close = difflib.get_close_matches(name.upper(), known, n=1, cutoff=0.6)
        problems.append(f"{name} is not a setting" + (f" (did you mean {close[0]}?)" if close else ""))
    return problems


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with command-line overrides; errors as one ConfigError line."""
    if problems := unknown_variables():
        raise ConfigError("; ".join(problems))
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            if not err["loc"]:  # a rule between settings names them itself
                problems.append(str(err["ctx"]["error"]) if "error" in err.get("ctx", {}) else err["msg"])
                continue
            name = "IMAGEN_" + "_".join(str(p) for p in err["loc"]).upper()
            problems.append(f"{name}: {err['msg']}")
        raise ConfigError("; ".join(problems)) from None
