"""Snapshots: the clean frame as captured, and a copy with the facts drawn on it."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import cv2
import numpy as np

COLOURS = {"person": (0, 200, 255), "fishing_rod": (0, 0, 255), "boat": (255, 160, 0), "stall": (0, 255, 0),
           "cart": (255, 0, 255), "vehicle": (255, 255, 0)}


def annotate(image: np.ndarray, *, wall: float, tz: ZoneInfo, node: str, zone: str, rule: str,
             objects: list[dict], label: str) -> np.ndarray:
    """A copy of `image` with time, node, zone and the objects' boxes; `image` is left untouched."""
    out = image.copy()
    h, w = out.shape[:2]
    scale = max(0.5, h / 720)
    for obj in objects:
        x1, y1, x2, y2 = (int(round(v)) for v in obj["box"])
        colour = COLOURS.get(obj["class"], (255, 255, 255))
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, max(1, round(2 * scale)), cv2.LINE_AA)
        cv2.putText(out, f"{obj['class']} {obj.get('score', 0):.2f}", (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.45 * scale, colour, 1, cv2.LINE_AA)
    stamp = datetime.fromtimestamp(wall, tz).strftime("%Y-%m-%d %H:%M:%S %z")
    lines = [f"{stamp}  node {node}", f"{label}: {rule} in zone {zone}"]
    band = int(26 * scale) * len(lines) + 8
    cv2.rectangle(out, (0, 0), (w, band), (0, 0, 0), -1)
    for i, text in enumerate(lines):
        cv2.putText(out, text, (8, int(22 * scale) + i * int(26 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale,
                    (255, 255, 255), 1, cv2.LINE_AA)
    return out


def jpeg(image: np.ndarray, quality: int) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("could not encode the snapshot")
    return data.tobytes()
