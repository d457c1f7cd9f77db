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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IMAGEN_", env_file=ENV_FILE, extra="ignore")

    transport: Literal["postgres", "supabase"] = "postgres"
    # postgres transport: a direct connection (DATABASE_URL accepted too).
    database_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("IMAGEN_DATABASE_URL", "DATABASE_URL")
    )
    # supabase transport: the project URL and the project's secret key, nothing else. The key is
    # the new secret key (sb_secret_..., Dashboard > Project Settings > API Keys) or the legacy
    # service_role JWT; SUPABASE_SECRET_KEY is the same setting under the dashboard's new name.
    supabase_url: str | None = Field(default=None, validation_alias=AliasChoices("IMAGEN_SUPABASE_URL", "SUPABASE_URL"))
    supabase_service_role_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "IMAGEN_SUPABASE_SERVICE_ROLE_KEY",
            "SUPABASE_SERVICE_ROLE_KEY",
            "IMAGEN_SUPABASE_SECRET_KEY",
            "SUPABASE_SECRET_KEY",
        ),
    )

    model: str = DEFAULT_MODEL
    # The model ids whose tries this worker claims, comma-separated; unset: IMAGEN_MODEL alone. A
    # worker loading a local copy names the id it stands for (IMAGEN_MODEL=/models/flux-schnell,
    # IMAGEN_CLAIM_MODELS=black-forest-labs/FLUX.1-schnell). `*`: every model (a development stack
    # whose one tiny pipeline renders every try; never on a fleet with several models).
    claim_models: str | None = None
    device: str | None = None
    dtype: Literal["bfloat16", "float16", "float32"] | None = None
    # torch.compile the denoiser. A compiling worker renders every size in IMAGEN_SIZES once
    # before it claims a try (DiffusersRenderer.warm_up), so no user's try waits on a compile.
    compile: bool = False
    # "blocks": regional compilation, the transformer's repeated blocks only (one compile serves
    # every block of a kind): on the CPU half the cold compile of "model", the whole denoiser as
    # one graph, with the same step times (bench/RESULTS.md §9.1); the GPU run (§9.3) times both.
    compile_scope: Literal["blocks", "model"] = "blocks"
    # False: one graph a picture size, each specialised (faster warm starts, §9.1; on the H200 the
    # dynamic graph made 1024² 2-3 % slower, §4); True: one dynamic-shape graph for all.
    compile_dynamic: bool = False
    # torch.compile's mode ("max-autotune" adds kernel autotuning and CUDA graphs on a GPU).
    compile_mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] | None = None
    # Compile the VAE's decoder too (channels-last).
    compile_vae: bool = False
    # A diffusers attention backend for the denoiser ("_native_cudnn", "_native_flash", ...);
    # None: diffusers' default (torch's scaled_dot_product_attention).
    attention_backend: str | None = None
    # Inductor's cache folder (compiled graphs, kernels, autotuning): a worker restarted on the same
    # folder reuses them instead of compiling again. None: torch's own (TORCHINDUCTOR_CACHE_DIR if
    # set, else /tmp/torchinductor_<user>, which a container restart loses).
    compile_cache_dir: Path | None = None
    # The picture sizes this worker serves, WIDTHxHEIGHT comma-separated; the warm-up compiles each.
    sizes: Annotated[tuple[tuple[int, int], ...], NoDecode] = WEB_APP_SIZES
    # A lossy speed-up, never on by default: "float8" quantizes the transformer's linear layers
    # with torchao (dynamic float8 activations and weights on GPUs that have float8 matmuls, weights
    # only elsewhere). bench/quality_gate.py measures what it changes in the pictures.
    quantize: Literal["none", "float8"] = "none"
    # Where the weights live on a card too small for the whole model (rendering/memory.py; GiB free
    # FLUX.1-schnell needs at 1024²): full (35.4); text-offload, the text encoders streamed once a
    # prompt (27.3); float8-storage, lossy (27.4); float8-text-offload, lossy, a 24 GB card (19.3);
    # model-offload (26.1); sequential-offload, the slowest (5.0). auto: the fastest lossless mode
    # that fits the card's free memory at start; full without a GPU. Some refuse IMAGEN_COMPILE/QUANTIZE.
    memory_mode: MemoryModeSetting = "auto"

    # Absolute once loaded: a relative IMAGEN_STORAGE_DIR is taken from the folder the command starts in.
    storage_dir: Path = Field(default_factory=default_storage_dir)
    worker_id: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    poll_interval: float = Field(default=2.0, gt=0)
    lease_seconds: float = Field(default=60.0, gt=0)
    heartbeat_interval: float = Field(default=1.0, gt=0)
    retry_backoff_seconds: float = Field(default=2.0, ge=0)
    # supabase transport: a small preview of each step's latents goes with its Broadcast progress
    # (NOTIFY, the postgres transport's, has no room for one).
    previews: bool = True
    # Per-step progress messages a second at most, per worker (steps in between are coalesced):
    # Realtime counts each once sent and once per viewer, against the project's quota (Free 100
    # a second); the default keeps 10 workers with 2 viewers each at 60 (docs/deploy.md).
    progress_rate: float = Field(default=DEFAULT_PROGRESS_RATE, gt=0)
    # supabase transport: a request with no answer after this long is given up and retried.
    request_timeout: float = Field(default=30.0, gt=0)
    # supabase transport: how often the Realtime connection is checked (and rebuilt if dead).
    realtime_watchdog_interval: float = Field(default=5.0, gt=0)
    # imagen webhooks: how long one delivery may wait for its endpoint, how many run at once, and
    # whether endpoints may resolve to loopback or private addresses (off: users' URLs must not
    # reach the deliverer's own network).
    webhook_timeout: float = Field(default=10.0, gt=0)
    webhook_threads: int = Field(default=16, gt=0)
    webhook_allow_private_addresses: bool = False

    # The operator's view (docs/deploy.md): /metrics, /healthz and /readyz on metrics_host:metrics_port.
    # Off by default: workers sharing a host (one a GPU) each need a port of their own, and a probe
    # port that cannot be bound must stop the worker, not be skipped; the deploy files turn it on.
    metrics: bool = False
    metrics_host: str = "127.0.0.1"  # 0.0.0.0 where a scraper or kubelet reaches the worker from outside
    metrics_port: int = Field(default=9464, ge=0, le=65535)  # 0: any free port (logged)
    # Queue depth is read from the database this often, never per scrape.
    metrics_queue_interval: float = Field(default=15.0, gt=0)
    # /healthz fails once the loop has not ticked (an iteration, a claim, a render step) this long.
    health_stall_seconds: float = Field(default=120.0, gt=0)
    # "json": one JSON object a line (time, level, event, worker, ids, seconds) for log pipelines.
    log_format: Literal["text", "json"] = "text"
    # Prompts are the users' words: never in a log line unless the operator turns this on.
    log_prompts: bool = False

    @field_validator("sizes", mode="before")
    @classmethod
    def _parse_sizes(cls, value: object) -> object:
        return parse_sizes(value)

    @field_validator("storage_dir")
    @classmethod
    def _storage_dir_is_absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @field_validator("model")
    @classmethod
    def _a_model_folder_holds_a_pipeline(cls, value: str) -> str:
        model_folder(value)
        return value

    @model_validator(mode="after")
    def _heartbeat_fits_the_lease(self) -> Settings:
        # A heartbeat renews the lease only once less than half of it is left (migration
        # 20261128110000): beats further apart than that would let it run out.
        if self.heartbeat_interval >= self.lease_seconds / 2:
            raise ValueError(
                f"IMAGEN_HEARTBEAT_INTERVAL ({self.heartbeat_interval:g} s) must be under half of "
                f"IMAGEN_LEASE_SECONDS ({self.lease_seconds:g} s)"
            )
        return self

    @model_validator(mode="after")
    def _memory_mode_combines(self) -> Settings:
        if self.memory_mode != "auto":
            try:
                check_combination(self.memory_mode, compile=self.compile, quantize=self.quantize)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return self

    def require_database_url(self) -> str:
        if self.database_url is None:
            raise ConfigError("no database: set IMAGEN_DATABASE_URL (or DATABASE_URL) to a postgres:// URL")
        return self.database_url.get_secret_value()


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
