"""[detect.tiles]: tiled detection (edge/detect/tiles.py), for cameras that see small objects."""

from __future__ import annotations

from pydantic import Field, PositiveInt

from .base import Section


class TilesConfig(Section):
    enabled: bool = True
    # Tile side in pixels of the picture the detector sees; default: the model's input side (each
    # object reaches the model at its native scale).
    side: PositiveInt | None = None
    overlap: float = Field(default=0.2, ge=0, lt=0.9)  # of a side, so an object on a seam is whole in one
    # A tiled look at the whole picture this often; in between, squares around the live tracks.
    interval_s: float = Field(default=1.0, ge=0)
    # With a camera pose (a drone): drop boxes larger on the ground than their class can be.
    ground_check: bool = True
