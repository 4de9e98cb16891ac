"""[evidence]: the pre-roll buffer, clips, snapshots and how much disk evidence may use."""

from __future__ import annotations

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from .base import Section


class EvidenceConfig(Section):
    enabled: bool = True
    # Seconds of encoded video kept in memory.  It must reach back to the start of a violation at the
    # moment it becomes an alert: longest dwell_s + recheck_s + preroll_s of the profile's rules.
    buffer_s: PositiveFloat = 180.0
    buffer_max_bytes: PositiveInt = 48 * 1024 * 1024  # hard cap on the buffer, whatever the bitrate
    preroll_s: float = Field(default=10.0, ge=0)  # clip starts this long before the violation began
    postroll_s: float = Field(default=5.0, ge=0)  # ... and ends this long after it was last seen
    max_clip_s: PositiveFloat = 300.0  # a longer violation is sealed at this length
    encode_fps: PositiveFloat | None = None  # encode at most this rate (default: every captured frame)
    crf: int = Field(default=28, ge=10, le=45)  # H.264 quality: lower is better and bigger
    gop_s: PositiveFloat = 2.0  # a keyframe this often: clips can start at most this much early
    jpeg_quality: int = Field(default=90, ge=30, le=100)
    max_bytes: PositiveInt = 8 * 1024**3  # evidence quota on disk
    min_free_bytes: int = Field(default=512 * 1024**2, ge=0)  # keep at least this much disk free

    @model_validator(mode="after")
    def _sane(self) -> EvidenceConfig:
        if self.preroll_s >= self.buffer_s:
            raise ValueError(f"preroll_s ({self.preroll_s}) must be shorter than buffer_s ({self.buffer_s})")
        return self
