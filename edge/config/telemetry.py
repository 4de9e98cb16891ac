"""[telemetry]: where a moving camera's pose comes from, and the camera's field of view."""

from __future__ import annotations

from pydantic import Field, PositiveFloat, field_validator

from .base import Section


class TelemetryConfig(Section):
    # mavlink:udpin:0.0.0.0:14550 (the flight controller's MAVLink stream; also mavlink:tcp:HOST:PORT
    # or a serial port mavlink:/dev/ttyAMA0,921600), jsonl:PATH (a file another process appends to),
    # or sim (the scenario's own telemetry, with a sim: source).
    source: str
    hfov_deg: float = Field(default=78.0, gt=5, lt=175)  # the camera's horizontal field of view
    max_age_s: PositiveFloat = 1.0  # a pose older than this (relative to the frame) is not used
    # How long the camera's stream takes to reach the node (an RTSP gimbal camera: 0.1-0.4 s): the
    # pose is looked up this much before a frame's arrival time, when the picture was taken.
    frame_delay_s: float = Field(default=0.0, ge=0, le=5)
    # One standard deviation of each error, for the location uncertainty in alerts (docs/drone.md).
    gps_sigma_m: float = Field(default=2.5, ge=0)
    altitude_sigma_m: float = Field(default=2.0, ge=0)
    attitude_sigma_deg: float = Field(default=1.0, ge=0)

    @field_validator("source")
    @classmethod
    def _known(cls, value: str) -> str:
        if not (value == "sim" or value.startswith("mavlink:") or value.startswith("jsonl:")):
            raise ValueError("expected mavlink:udpin:HOST:PORT, jsonl:PATH or sim")
        return value
