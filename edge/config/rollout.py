"""[rollout]: how a node takes a new signed model from the hub, tests it, and falls back."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, PositiveFloat, PositiveInt

from .base import Section


class RolloutConfig(Section):
    self_test_frames: PositiveInt = 4  # recent frames the candidate runs on before the switch
    # Of the objects the current model finds on those frames, the share the candidate must find too
    # (same class, IoU >= 0.5).  Frames where the current model sees nothing test only that it runs.
    min_agreement: float = Field(default=0.5, ge=0, le=1)
    max_slowdown: PositiveFloat = 3.0  # candidate inference time / current, at most
    max_crashes: PositiveInt = 2  # unclean restarts within the probation after a switch: roll back
    probation_s: PositiveFloat = 600.0  # running this long after a switch confirms the new model
    keep: PositiveInt = 3  # model folders kept in the state folder (current, previous, one more)
    ca_file: Path | None = None  # CA of the hub's HTTPS server (default: the system's)
    timeout_s: PositiveFloat = 30.0  # per HTTP request
