"""The picture a `snapshot` command brings back to the hub: a small JPEG, base64, in the result's
`data.jpeg_b64` when the command asks for `{"thumbnail": WIDTH}` (64..1280 pixels wide), so the
console can show what a camera sees now without waiting for an upload.  The full-size picture stays
in the node's snapshots folder."""

from __future__ import annotations

import base64

import cv2
import numpy as np

#: The hub refuses a thumbnail larger than this (decoded bytes).
MAX_BYTES = 512 * 1024


def jpeg_b64(image: np.ndarray, width: int, quality: int = 75) -> str:
    h, w = image.shape[:2]
    if w > width:
        image = cv2.resize(image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("could not encode the thumbnail")
    return base64.b64encode(data.tobytes()).decode("ascii")


def decode(text: str) -> bytes:
    """The JPEG bytes; ValueError when it is not a plausible JPEG of a sane size."""
    if not isinstance(text, str) or len(text) > MAX_BYTES * 4 // 3 + 4:
        raise ValueError("thumbnail missing or too large")
    data = base64.b64decode(text.encode("ascii"), validate=True)
    if not data.startswith(b"\xff\xd8") or len(data) > MAX_BYTES:
        raise ValueError("thumbnail is not a JPEG")
    return data
