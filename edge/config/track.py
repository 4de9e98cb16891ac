"""[track]: the multi-object tracker."""

from __future__ import annotations

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from .base import Section


class TrackConfig(Section):
    high_score: float = Field(default=0.45, gt=0, lt=1)  # detections that may start a track
    low_score: float = Field(default=0.2, gt=0, lt=1)  # weaker ones only keep a track alive
    match_iou: float = Field(default=0.25, gt=0, lt=1)
    confirm_hits: PositiveInt = 2  # sightings before a track counts
    max_lost_s: PositiveFloat = 4.0  # keep an unseen track this long (occlusion)
    # keep a stationary track hidden behind a nearer one (a truck stopping in front of a parked car)
    occlusion_hold_s: PositiveFloat = 120.0
    stationary_window_s: PositiveFloat = 4.0  # standing still this long makes a track stationary
    stationary_tolerance: float = Field(default=0.2, gt=0, le=2)  # allowed wander, in box sizes

    @model_validator(mode="after")
    def _order(self) -> TrackConfig:
        if self.low_score > self.high_score:
            raise ValueError("low_score must not exceed high_score")
        return self
