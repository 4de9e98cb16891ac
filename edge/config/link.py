"""[link]: the MQTT connection to the hub.  Secrets are referenced, never inline."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from .base import Section


class TlsConfig(Section):
    ca_file: Path
    cert_file: Path | None = None
    key_file: Path | None = None

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (a client certificate needs its key)")
        return self


class ReconnectConfig(Section):
    initial_s: PositiveFloat = 1.0
    max_s: PositiveFloat = 60.0


class LinkConfig(Section):
    enabled: bool = True
    host: str = "localhost"
    port: int = Field(default=1883, ge=1, le=65535)
    prefix: str = Field(default="edge", pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
    username: str | None = None
    password_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    password_file: Path | None = None
    tls: TlsConfig | None = None
    client_id: str | None = None  # default edge-{node id}: stable, so the broker keeps the session
    protocol: Literal["5", "3.1.1"] = "5"
    keepalive_s: PositiveInt = 30
    inflight: int = Field(default=64, ge=1, le=1000)  # QoS 1 messages awaiting PUBACK at once
    reconnect: ReconnectConfig = Field(default_factory=ReconnectConfig)
    outbox_max_messages: PositiveInt = 100_000
    outbox_max_bytes: PositiveInt = 64 * 1024 * 1024
    stats_interval_s: PositiveFloat = 30.0
    # TCP congestion control for the node's connection, where the kernel offers it (else the system's
    # default, said once in the log). BBR keeps a lossy 4G link busy where loss-based cubic/reno halve
    # their rate at every lost packet; "" keeps the system's default.
    tcp_congestion: str = Field(default="bbr", pattern=r"^[a-z0-9_]*$", max_length=15)
    # End-to-end receipts: a lifecycle message stays in the outbox until the hub says it stored it,
    # and is sent again when that takes longer than receipt_timeout_s (doubling up to receipt_max_s).
    # false only for a hub that sends no receipts: the broker's PUBACK is then the end.
    receipts: bool = True
    receipt_timeout_s: PositiveFloat = 15.0
    receipt_max_s: PositiveFloat = 300.0
    # The hub's Ed25519 public key (PEM) that signs commands; default {state_dir}/keys/hub.pub.
    hub_public_key: Path | None = None

    @model_validator(mode="after")
    def _one_password_source(self) -> LinkConfig:
        if self.password_env and self.password_file:
            raise ValueError("give password_env or password_file, not both")
        return self
