"""[node]: who this box is and where it stands."""

from __future__ import annotations

import re
import zoneinfo
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from .base import Section

# Node ids appear in MQTT topics and file names: no '/', '+', '#', spaces or upper case.
NODE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


class Location(Section):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class NodeConfig(Section):
    id: str
    kind: Literal["camera", "drone", "dock"]
    site: str = ""
    timezone: str = "Asia/Shanghai"
    location: Location | None = None
    # Where the node keeps its state (lifecycle log, later the outbox and evidence).
    # `edge-node run --state-dir` overrides it.
    state_dir: Path = Path("/var/lib/edge-node")

    @field_validator("id")
    @classmethod
    def _topic_safe_id(cls, value: str) -> str:
        if not NODE_ID.fullmatch(value):
            raise ValueError(
                f"'{value}' is not a node id: use 1-63 lower-case letters, digits, '-' or '_' "
                "(it becomes an MQTT topic level)"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}' (use an IANA name such as Asia/Shanghai)") from None
        return value
