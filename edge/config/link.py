"""[link]: the MQTT connection to the hub.  Secrets are referenced, never inline."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

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


class LinkConfig(Section):
    host: str = "localhost"
    port: int = Field(default=1883, ge=1, le=65535)
    prefix: str = Field(default="edge", pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
    username: str | None = None
    password_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    password_file: Path | None = None
    tls: TlsConfig | None = None

    @model_validator(mode="after")
    def _one_password_source(self) -> LinkConfig:
        if self.password_env and self.password_file:
            raise ValueError("give password_env or password_file, not both")
        return self
