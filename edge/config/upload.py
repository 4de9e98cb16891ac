"""[upload]: sending evidence to the hub over MQTT (EMQX file-transfer protocol).

How much is in flight follows the link the uploader measures (edge/link/pace.py); the figures here
are bounds, not settings to tune per SIM card.
"""

from __future__ import annotations

from pydantic import Field, PositiveFloat, PositiveInt

from .base import Section


class UploadConfig(Section):
    enabled: bool = True
    # The largest segment; on a slow link segments are smaller (about 0.1 s on the wire each).
    segment_bytes: int = Field(default=256 * 1024, ge=16 * 1024, le=16 * 1024 * 1024)
    window: PositiveInt = Field(default=32, le=48)  # at most this many segments awaiting the receiver's answer
    # How long an alert may wait behind evidence on the node's connection (beyond the link's round trip).
    queue_delay_s: float = Field(default=0.25, gt=0, le=5)
    max_bytes_per_s: float = Field(default=0, ge=0)  # bandwidth cap for a shared or metered SIM; 0: none
    response_timeout_s: PositiveFloat = 30.0  # no answer at all this long: start the file again with init
