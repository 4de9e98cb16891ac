"""[upload]: sending evidence to the hub over MQTT (EMQX file-transfer protocol)."""

from __future__ import annotations

from pydantic import Field, PositiveFloat, PositiveInt

from .base import Section


class UploadConfig(Section):
    enabled: bool = True
    segment_bytes: int = Field(default=256 * 1024, ge=4096, le=16 * 1024 * 1024)
    window: PositiveInt = 16  # segments sent and not yet confirmed by the receiver
    max_bytes_per_s: float = Field(default=0, ge=0)  # bandwidth cap; 0: none
    response_timeout_s: PositiveFloat = 30.0  # no answer at all this long: start the file again with init
