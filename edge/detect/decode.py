"""Output decoders for the YOLO family.  Each turns a raw output tensor into candidate boxes.

- yolov5:  (1, N, 5+C)  cx, cy, w, h, objectness, C class probabilities
- yolov8:  (1, 4+C, N)  cx, cy, w, h, C class scores (also YOLO11); (1, N, 4+C) is accepted too
- end2end: (1, K, 6)    x1, y1, x2, y2, score, class, NMS already done inside the model
Coordinates are model-input pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LAYOUTS = ("yolov5", "yolov8", "end2end")


class LayoutError(ValueError):
    """An output shape no decoder understands, or one that contradicts the class count."""


@dataclass(frozen=True)
class Candidates:
    boxes: np.ndarray  # (M, 4) xyxy, input pixels
    scores: np.ndarray  # (M,)
    class_ids: np.ndarray  # (M,) model class index


def detect_layout(shape: tuple[int, ...], num_classes: int) -> str:
    """Recognise the layout from the output shape and the number of classes."""
    if len(shape) != 3 or shape[0] not in (1, -1):
        raise LayoutError(f"output shape {list(shape)} is not a YOLO detection output (expected 3 dimensions)")
    _, a, b = shape
    c = num_classes
    if a == 4 + c and b > a:
        return "yolov8"
    if b == 4 + c and a > b:
        return "yolov8"
    if b == 5 + c and a > b:
        return "yolov5"
    if b == 6:
        return "end2end"
    raise LayoutError(
        f"output shape {list(shape)} fits no known layout for {c} classes "
        f"(yolov5 (1, N, {5 + c}), yolov8 (1, {4 + c}, N), end2end (1, K, 6))"
    )


def check_layout(layout: str, shape: tuple[int, ...], num_classes: int) -> str:
    """A layout named in a manifest must agree with the output it is meant to read."""
    if layout not in LAYOUTS:
        raise LayoutError(f"unknown output layout '{layout}' (known: {', '.join(LAYOUTS)})")
    _, a, b = shape
    c = num_classes
    fits = {
        "yolov8": (a == 4 + c) or (b == 4 + c),
        "yolov5": b == 5 + c,
        "end2end": b == 6,
    }[layout]
    if not fits:
        raise LayoutError(f"output shape {list(shape)} is not a {layout} output for {c} classes")
    return layout


def _cxcywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    half = b[:, 2:4] / 2
    return np.concatenate([b[:, 0:2] - half, b[:, 0:2] + half], axis=1)


def decode(output: np.ndarray, layout: str, num_classes: int, score_threshold: float) -> Candidates:
    out = output[0]
    if layout == "yolov8":
        if out.shape[0] == 4 + num_classes:  # (4+C, N) as exported (also when square): no transpose
            # max over classes first (a cheap reduction), argmax only for the few that pass
            scores = out[4:].max(0)
            keep = scores >= score_threshold
            kept = out[:, keep]
            boxes = _cxcywh_to_xyxy(kept[:4].T)
            return Candidates(boxes, scores[keep], kept[4:].argmax(0).astype(np.int32))
        else:  # (N, 4+C)
            cls_scores = out[:, 4:]
            class_ids = cls_scores.argmax(1)
            scores = cls_scores[np.arange(len(out)), class_ids]
            keep = scores >= score_threshold
            boxes = _cxcywh_to_xyxy(out[keep, :4])
            return Candidates(boxes, scores[keep], class_ids[keep].astype(np.int32))
    if layout == "yolov5":
        obj = out[:, 4]
        keep = obj >= score_threshold  # cheap pre-filter: score = obj * cls <= obj
        out = out[keep]
        cls_scores = out[:, 5:] * out[:, 4:5]
        class_ids = cls_scores.argmax(1)
        scores = cls_scores[np.arange(len(out)), class_ids]
        keep = scores >= score_threshold
        boxes = _cxcywh_to_xyxy(out[keep, :4])
        return Candidates(boxes, scores[keep], class_ids[keep].astype(np.int32))
    if layout == "end2end":
        scores = out[:, 4]
        keep = scores >= score_threshold
        out = out[keep]
        class_ids = out[:, 5].astype(np.int32)
        valid = (class_ids >= 0) & (class_ids < num_classes)
        return Candidates(out[valid, :4].copy(), out[valid, 4], class_ids[valid])
    raise LayoutError(f"unknown output layout '{layout}'")
