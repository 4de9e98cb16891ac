"""[dataset]: frames worth labelling, kept on the node under a quota that evidence always wins over."""

from __future__ import annotations

from pydantic import Field, PositiveFloat, PositiveInt

from .base import Section


class DatasetConfig(Section):
    enabled: bool = False  # off by default: a node keeps no pictures beyond evidence unless asked to
    max_bytes: PositiveInt = 256 * 1024**2  # the dataset's own quota; the oldest frames go first
    max_frames: PositiveInt = 2000
    jpeg_quality: int = Field(default=85, ge=30, le=100)
    event_frames: int = Field(default=3, ge=0, le=20)  # frames kept from each warning and alert on
    event_interval_s: PositiveFloat = 1.0  # ... this far apart
    near_threshold: float = Field(default=0.1, ge=0, le=1)  # a score within this above the threshold
    min_interval_s: PositiveFloat = 5.0  # between two frames kept for a near-threshold score or a flicker
    quiet_per_hour: float = Field(default=4.0, ge=0)  # random quiet frames per hour and lighting (day/dusk/night)
    seed: int = 0
