"""[detect]: the object classes the rules speak about, and the model that finds them."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator

from .base import Section
from .tiles import TilesConfig
from .zones import Point, validate_polygon

DEFAULT_CLASSES = ("person", "fishing_rod", "boat", "stall", "cart", "vehicle")

# `class_map = "coco"`: the COCO labels (Ultralytics, TF-OD API and torchvision exports all use these
# names) that mean what a rule class means.  Motor vehicles are all "vehicle": a fire lane is blocked
# by a truck as much as by a car.  Left out on purpose: bicycle (not what the parking rule is about),
# umbrella/bench/dining table (a stall is not reliably any of them), and there is no fishing rod in
# COCO at all: fishing rules with a COCO model run on the "loitering" basis.
PRESETS: dict[str, dict[str, str]] = {
    "coco": {"person": "person", "boat": "boat", "car": "vehicle", "truck": "vehicle", "bus": "vehicle",
             "motorcycle": "vehicle"},
}


def resolve_class_map(class_map: dict[str, str] | str, labels: tuple[str, ...] | list[str],
                      classes: tuple[str, ...]) -> dict[str, str]:
    """A preset keeps the entries whose label the model has and whose class the profile has."""
    if isinstance(class_map, str):
        return {k: v for k, v in PRESETS[class_map].items() if k in labels and v in classes}
    return dict(class_map)
_CLASS_NAME = re.compile(r"[a-z][a-z0-9_]*")


class MotionConfig(Section):
    """The motion gate: where the detector looks.  Off means the whole picture, every frame."""

    enabled: bool = True
    frame_height: int = Field(default=120, ge=32, le=720)  # rows of the low-resolution motion picture
    # How far (squared, in standard deviations of the pixel's own flicker) a pixel must leave its
    # background to count as motion.  Higher: less sensitive.
    threshold: int = Field(default=32, ge=4, le=255)
    history: int = Field(default=300, ge=10)  # frames over which the background is learnt
    contour_area: int = Field(default=8, ge=1)  # smallest moving area, in low-resolution pixels
    lightning_threshold: float = Field(default=0.8, gt=0, le=1)  # this much change at once is lighting
    recheck_s: PositiveFloat = 10.0  # look at the whole picture at least this often
    stationary_interval_s: PositiveFloat = 5.0  # re-check objects that stand still this often
    max_regions: PositiveInt = 4  # more regions than this: look at the whole picture instead
    mask: tuple[tuple[Point, ...], ...] = ()  # polygons (relative) where motion is ignored

    @field_validator("mask")
    @classmethod
    def _polygons(cls, value: tuple[tuple[Point, ...], ...]) -> tuple[tuple[Point, ...], ...]:
        return tuple(validate_polygon(p) for p in value)


class DetectConfig(Section):
    # Rule classes; zones and rules may only name these.
    classes: tuple[str, ...] = DEFAULT_CLASSES
    # Model folder (model.onnx + labels.txt + manifest.json).  Without one, the node only captures.
    model: Path | None = None
    # Model labels -> rule classes, for models trained on other label sets ("Fishing Rod" = "fishing_rod"),
    # or a preset: "coco" (see PRESETS).
    class_map: dict[str, str] | str = Field(default_factory=dict)
    score_threshold: float = Field(default=0.35, gt=0, lt=1)
    iou_threshold: float = Field(default=0.45, gt=0, lt=1)
    threads: PositiveInt | None = None  # onnxruntime threads; default: one per core
    motion: MotionConfig = Field(default_factory=MotionConfig)
    tiles: TilesConfig | None = None  # tiled whole-frame looks (a drone's small objects), see docs/drone.md

    @field_validator("classes")
    @classmethod
    def _class_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("needs at least one class")
        bad = [n for n in value if not _CLASS_NAME.fullmatch(n)]
        if bad:
            raise ValueError(f"class names must be lower_snake_case, got {', '.join(map(repr, bad))}")
        dupes = sorted({n for n in value if value.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate class {', '.join(map(repr, dupes))}")
        return value

    @field_validator("class_map")
    @classmethod
    def _preset(cls, value: dict[str, str] | str) -> dict[str, str] | str:
        if isinstance(value, str) and value not in PRESETS:
            raise ValueError(f"unknown preset {value!r} (presets: {', '.join(PRESETS)}; or a table label = class)")
        return value

    @model_validator(mode="after")
    def _map_onto_known_classes(self) -> DetectConfig:
        if isinstance(self.class_map, str):
            return self
        bad = [v for v in self.class_map.values() if v not in self.classes]
        if bad:
            raise ValueError(f"class_map maps onto {', '.join(map(repr, bad))}, which are not in classes")
        return self
