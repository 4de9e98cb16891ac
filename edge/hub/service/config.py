"""hub.toml: the hub service's configuration, validated like a node profile (unknown keys are errors,
every problem is reported as `FILE: field.path: what is wrong`, secrets only by reference)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from ...config.base import Section
from ...config.profile import ConfigError, Problem, _pydantic_problem, _toml_problem
from ..console.config import ConsoleSection

# Keys of [broker] that default to the hub tools' EDGE_HUB_* variables (the `mqtt.env` that
# `edge-hub provision init` writes), so `serve` and `listen`/`command` find the broker the same way.
_BROKER_ENV = {"address": "EDGE_HUB_BROKER", "username": "EDGE_HUB_USERNAME",
               "password_env": "EDGE_HUB_PASSWORD_ENV", "tls_ca": "EDGE_HUB_TLS_CA",
               "tls_cert": "EDGE_HUB_TLS_CERT", "tls_key": "EDGE_HUB_TLS_KEY"}


class BrokerSection(Section):
    address: str = "localhost:1883"
    client_id: str = Field(default="edge-hub-serve", min_length=1, max_length=64,
                           description="each worker needs its own (e.g. edge-hub-serve-2)")
    username: str | None = None
    password_env: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    share_group: str = Field(default="hub", pattern=r"^[A-Za-z0-9_-]*$",
                             description="shared-subscription group ($share/GROUP/...); empty: none")

    @model_validator(mode="before")
    @classmethod
    def _env_defaults(cls, data: object) -> object:
        """A key the file leaves out takes its EDGE_HUB_* variable when that is set."""
        if isinstance(data, dict):
            extra = {k: os.environ[v] for k, v in _BROKER_ENV.items() if k not in data and os.environ.get(v)}
            data = {**extra, **data}
        return data

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"expected HOST:PORT, got {value!r}")
        return value


class StoreSection(Section):
    url: str = Field(default="hub.db", description="a SQLite file, or postgresql://user@host/db")
    password_env: str | None = None
    batch: int = Field(default=500, ge=1, le=5000, description="messages per ingest transaction at most")


class EvidenceSection(Section):
    # mosquitto does not deliver $file/... topics on shared subscriptions: with several workers on
    # mosquitto exactly one receives evidence (the others set receive = false or --no-evidence).
    receive: bool = True
    dir: str = "evidence"
    node_keys: str | None = None  # default DIR/node-keys


class ModelsSection(Section):
    # Released model folders (edge-hub model sign), one per NAME, served at /models/NAME/model.onnx
    # for the nodes' `model` rollout command.
    dir: str = "models"


class ApiSection(Section):
    listen: str = "127.0.0.1:8080"
    tls_cert: str | None = None
    tls_key: str | None = None
    session_ttl_s: float = Field(default=12 * 3600, gt=0)
    login_attempts_per_minute: int = Field(default=5, ge=1)
    enabled: bool = True

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"expected HOST:PORT, got {value!r}")
        return value


class Targets(Section):
    acknowledge_s: float = Field(default=120, gt=0)
    dispatch_s: float = Field(default=300, gt=0)
    on_scene_s: float = Field(default=900, gt=0, description="the 15-minute circle")


class RuleTargets(Targets):
    rule: str = Field(min_length=1)


class IncidentsSection(Section):
    group_window_s: float = Field(default=600, ge=0, description="repeats of node/rule/zone within this join")
    targets: Targets = Field(default_factory=Targets)
    rule_targets: tuple[RuleTargets, ...] = ()

    def targets_for(self, rule: str) -> Targets:
        for t in self.rule_targets:
            if t.rule == rule:
                return t
        return self.targets


class DispatchSection(Section):
    speed_kmh: float = Field(default=15.0, gt=0, description="straight-line travel speed for the ETA")
    position_max_age_s: float = Field(default=600, gt=0)
    proposals: int = Field(default=3, ge=1, le=20)


class NodeSite(Section):
    id: str = Field(min_length=1)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    name: str = ""


class HubSection(Section):
    prefix: str = Field(default="edge", pattern=r"^[A-Za-z0-9_-]+$")
    data_dir: str = "."
    key_file: str = "hub.key"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class HubConfig(Section):
    hub: HubSection = Field(default_factory=HubSection)
    broker: BrokerSection = Field(default_factory=BrokerSection)
    store: StoreSection = Field(default_factory=StoreSection)
    evidence: EvidenceSection = Field(default_factory=EvidenceSection)
    models: ModelsSection = Field(default_factory=ModelsSection)
    api: ApiSection = Field(default_factory=ApiSection)
    incidents: IncidentsSection = Field(default_factory=IncidentsSection)
    dispatch: DispatchSection = Field(default_factory=DispatchSection)
    nodes: tuple[NodeSite, ...] = ()
    console: ConsoleSection = Field(default_factory=ConsoleSection)

    _base_dir: Path = PrivateAttr(default=Path("."))

    def path(self, value: str) -> Path:
        """Paths are relative to hub.data_dir, itself relative to the config file's folder."""
        base = (self._base_dir / self.hub.data_dir)
        return (base / value) if not Path(value).is_absolute() else Path(value)

    @property
    def store_url(self) -> str:
        url = self.store.url
        if url.startswith(("postgresql://", "postgres://")):
            return url
        return str(self.path(url.removeprefix("sqlite:///").removeprefix("sqlite://")))


def load_config(file: str | Path, *, overrides: dict | None = None) -> HubConfig:
    """Read and validate hub.toml; ConfigError lists every problem with its field path."""
    file = Path(file)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(file, [Problem("file", "not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(file, [Problem("file", f"cannot read: {exc}")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, [_toml_problem(exc)]) from None
    for dotted, value in (overrides or {}).items():
        section, key = dotted.split(".", 1)
        data.setdefault(section, {})[key] = value
    try:
        config = HubConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(file, [_pydantic_problem(e) for e in exc.errors()]) from None
    config._base_dir = file.resolve().parent
    problems = []
    seen = set()
    for i, site in enumerate(config.nodes):
        if site.id in seen:
            problems.append(Problem(f"nodes[{i}].id", f"{site.id!r} is listed twice"))
        seen.add(site.id)
    if (config.api.tls_cert is None) != (config.api.tls_key is None):
        problems.append(Problem("api.tls_cert", "tls_cert and tls_key go together"))
    if problems:
        raise ConfigError(file, problems)
    return config
