"""Scenario tables for what real sites have besides actors: weather, camera faults, crowds, and how
the --oracle detector scores things (docs/scenarios.md, "Weather, faults, crowds, oracle").

- [weather]: rain streaks, fog that thickens with distance, and local glare spots (the sun on the
  water, a headlight), each over a time window;
- [[camera_faults]]: the lens covered, defocused, the camera knocked aside, frames dropped, frame
  times jittering; each over a time window;
- [[crowds]]: a seeded number of walkers crossing a band of the picture, expanded into person actors;
- [[oracle]]: for `edge-sim score --oracle`, the scores a perfect-localisation detector reports for
  an actor on whole-frame looks and in the gate's zoomed crops (and the class a crop reads), so that
  track keeping under crop under-scoring can be scored without a model.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Window(_Model):
    start_s: float = Field(default=0.0, ge=0)
    end_s: float = Field(default=1e9, gt=0)

    @model_validator(mode="after")
    def _order(self):
        if self.end_s <= self.start_s:
            raise ValueError(f"end_s ({self.end_s:g}) must be after start_s ({self.start_s:g})")
        return self

    def active(self, t: float) -> bool:
        return self.start_s <= t < self.end_s


class Rain(_Window):
    intensity: float = Field(default=0.5, gt=0, le=1)  # 1: a downpour
    angle_deg: float = Field(default=12.0, ge=-45, le=45)  # streak slant from vertical


class Fog(_Window):
    density: float = Field(default=0.5, gt=0, le=1)  # share of the far edge's contrast lost
    color: tuple[int, int, int] = (205, 205, 200)  # B, G, R of the haze


class Glare(_Window):
    x: float = Field(ge=-0.2, le=1.2)  # centre, relative
    y: float = Field(ge=-0.2, le=1.2)
    radius: float = Field(default=0.12, gt=0, le=1)  # relative to the picture width
    strength: float = Field(default=0.8, gt=0, le=1)  # 1: burnt out white at the centre


class Weather(_Model):
    rain: Rain | None = None
    fog: Fog | None = None
    glare: list[Glare] = []


FaultKind = Literal["covered", "defocus", "knocked", "drop", "jitter", "signal_lost"]


class CameraFault(_Window):
    kind: FaultKind
    # covered: share of the picture covered from the bottom up (1: all), and how opaque
    share: float = Field(default=1.0, gt=0, le=1)
    opacity: float = Field(default=0.97, gt=0, le=1)
    # defocus: blur sigma in pixels at 720 lines
    blur_px: float = Field(default=6.0, gt=0, le=40)
    # knocked: the view turns by this (relative shift and degrees) and stays so
    dx: float = Field(default=0.15, ge=-1, le=1)
    dy: float = Field(default=0.05, ge=-1, le=1)
    angle_deg: float = Field(default=4.0, ge=-45, le=45)
    # drop: share of frames never delivered; jitter: frame times off by up to this share of a frame;
    # signal_lost: no frame at all is delivered
    rate: float = Field(default=0.3, ge=0, le=0.95)


class Crowd(_Window):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]+$", max_length=32)
    count: int = Field(ge=1, le=60)
    band: tuple[float, float] = (0.85, 0.95)  # y range of their ground points (relative)
    speed_mps: tuple[float, float] = (0.9, 1.5)
    seed: int = Field(default=0, ge=0)
    stop_share: float = Field(default=0.2, ge=0, le=1)  # some stop for a while (chatting, looking)

    def actors(self, duration_s: float) -> list[dict]:
        """Person actor tables: walkers crossing left to right or back, some pausing on the way."""
        rng = np.random.default_rng([self.seed, self.count, 0xC0])
        end = min(self.end_s, duration_s)
        out = []
        for k in range(self.count):
            t0 = float(rng.uniform(self.start_s, max(self.start_s, end - 8)))
            y = float(rng.uniform(*self.band))
            left = rng.random() < 0.5
            x0, x1 = (-0.05, 1.05) if left else (1.05, -0.05)
            speed = float(rng.uniform(*self.speed_mps))
            cross = 1.1 * 16.0 / speed  # ~16 m of picture width: seconds to cross
            path = [[round(t0, 2), x0, round(y, 3)]]
            if rng.random() < self.stop_share:
                xm = float(rng.uniform(0.2, 0.8))
                tm = t0 + cross * abs(xm - x0) / 1.1
                stay = float(rng.uniform(5, 20))
                path += [[round(tm, 2), round(xm, 3), round(y, 3)], [round(tm + stay, 2), round(xm, 3), round(y, 3)]]
                t_end = tm + stay + cross * abs(x1 - xm) / 1.1
            else:
                t_end = t0 + cross
            if t_end > duration_s:
                continue
            path.append([round(t_end, 2), x1, round(y, 3)])
            out.append({"id": f"{self.id}-{k}", "kind": "person", "path": path})
        return out


class OracleScore(_Model):
    actor: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")  # an actor id, or `<id>.rod` for a rod
    full: float = Field(default=0.9, gt=0, le=1)  # score on whole-frame looks
    crop: float = Field(default=0.9, ge=0, le=1)  # score in the gate's zoomed crops (0: not found)
    crop_class: str | None = None  # the class a crop reads it as, when different


def fault_at(faults: list[CameraFault], kind: str, t: float) -> CameraFault | None:
    return next((f for f in faults if f.kind == kind and f.active(t)), None)
