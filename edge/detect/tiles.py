"""Tiled detection for aerial frames, and the ground-size check a camera with a pose allows.

From 40-60 m a person, a rod or a boat is 6-40 px in a 1280 px frame: letterboxed whole into a
320 px model input they shrink four times, below what any small detector finds.  Tiling looks at
the frame in overlapping squares of the model's input size, so each object reaches the model at
its native scale (the detector's own class-aware NMS joins the tiles' boxes).  It costs one
inference per tile (bench/pipeline.py --profile drone measures it).

A camera that knows its pose (a drone with telemetry) also knows how many metres a pixel spans at
each detection, so a box far larger than its class can be on the ground (a 10 m "rod" made of a
path's edge, an 8 m "person") is dropped before tracking: `plausible`.
"""

from __future__ import annotations

import math

import numpy as np

from .detections import Detections

Box = tuple[int, int, int, int]

# Largest plausible extent on the ground (metres) of each class seen from above; others unchecked.
MAX_SIZE_M = {"person": 2.6, "fishing_rod": 6.0, "boat": 15.0, "vehicle": 12.0, "cart": 5.0, "stall": 6.0}


def tile_regions(size: tuple[int, int], side: int, overlap: float = 0.2) -> list[Box]:
    """Squares of `side` px covering a (w, h) frame, overlapping by `overlap` of a side, the last
    row and column flush with the frame's edges."""
    w, h = size
    side = max(8, min(side, w, h))
    step = max(1, int(side * (1.0 - overlap)))

    def starts(n: int) -> list[int]:
        out = list(range(0, max(n - side, 0) + 1, step))
        if out[-1] + side < n:
            out.append(n - side)
        return out

    return [(x, y, x + side, y + side) for y in starts(h) for x in starts(w)]


def plausible(detections: Detections, camera, max_size_m: dict[str, float] | None = None) -> Detections:
    """The detections whose size on the ground fits their class, for a camera with a pose
    (edge.geo.CameraPose); unchanged where the ground scale is unknown (above the horizon)."""
    from ..geo.camera import pixel_to_ground

    if camera is None or not len(detections):
        return detections
    limits = MAX_SIZE_M if max_size_m is None else max_size_m
    keep = np.ones(len(detections), bool)
    for i, (box, name) in enumerate(zip(detections.boxes, detections.names, strict=True)):
        limit = limits.get(name)
        if limit is None:
            continue
        u, v = float((box[0] + box[2]) / 2), float(box[3])
        a, b = pixel_to_ground(camera, u, v), pixel_to_ground(camera, u + 1.0, v)
        if a is None or b is None:
            continue
        metres_per_px = math.dist(a, b)  # across the line of sight: not foreshortened
        keep[i] = max(box[2] - box[0], box[3] - box[1]) * metres_per_px <= limit
    return detections if keep.all() else detections.select(keep)
