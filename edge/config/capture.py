"""[capture]: which camera or stream feeds the node, and how to keep it flowing."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, field_validator

from ..capture.uri import SourceUriError, parse_source_uri
from .base import Section


class ReconnectConfig(Section):
    initial_s: PositiveFloat = 1.0
    max_s: PositiveFloat = 30.0


class CaptureConfig(Section):
    source: str
    # Requested camera resolution (usb, picamera2 main stream).
    size: tuple[PositiveInt, PositiveInt] | None = None
    # picamera2's low-resolution stream, used for detection while the main stream feeds evidence.
    lores_size: tuple[PositiveInt, PositiveInt] = (640, 360)
    # Requested frame rate (usb, picamera2) or the pace of an image folder.
    fps: PositiveFloat | None = None
    # file/sim sources: start again at the end; pace at the native frame rate (false: every frame).
    loop: bool = False
    realtime: bool = True
    rtsp_transport: Literal["tcp", "udp"] = "tcp"
    open_timeout_s: PositiveFloat = 10.0
    read_timeout_s: PositiveFloat = 5.0
    reconnect: ReconnectConfig = Field(default_factory=ReconnectConfig)

    @field_validator("source")
    @classmethod
    def _valid_uri(cls, value: str) -> str:
        try:
            parse_source_uri(value)
        except SourceUriError as exc:
            raise ValueError(str(exc)) from None
        return value
