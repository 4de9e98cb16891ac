"""[detect]: the object classes the rules speak about, and the model that finds them."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import field_validator

from .base import Section

DEFAULT_CLASSES = ("person", "fishing_rod", "boat", "stall", "cart", "vehicle")
_CLASS_NAME = re.compile(r"[a-z][a-z0-9_]*")


class DetectConfig(Section):
    # Rule classes; zones and rules may only name these.
    classes: tuple[str, ...] = DEFAULT_CLASSES
    # Model folder (model.onnx + labels + manifest).  Without one, the node only captures.
    model: Path | None = None

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
