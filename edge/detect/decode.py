"""Output decoders: each turns a model's raw outputs into candidate boxes in model-input pixels.

- yolov8:  (1, 4+C, N)  cx, cy, w, h, C class scores: Ultralytics YOLOv5u/v8/11/26 one-to-many head
           ((1, N, 4+C) too, when the manifest says so); needs NMS
- yolov5:  (1, N, 5+C)  cx, cy, w, h, objectness, C class probabilities (the classic yolov5 repo); NMS
- end2end: (1, K, 6)    x1, y1, x2, y2, score, class: YOLOv10, YOLO26, any `nms=True` export; no NMS
- rtdetr:  (1, K, 4+C)  normalised cx, cy, w, h, C class scores (Ultralytics RT-DETR export); no NMS
- rtdetr_topk: (1, K, 6) normalised cx, cy, w, h, score, class (Ultralytics 8.4's RT-DETR export); no NMS
- ssd:     boxes (1, N, 4) normalised y1, x1, y2, x2, scores (1, N), classes (1, N), count (1,)
           (TensorFlow Object Detection API and models exported like it); no NMS

A shape alone does not always say which: (1, 300, 6) is end2end, but also yolov5 with one class and a
transposed yolov8 with two.  The layout therefore comes from the model's metadata where there is one,
and a shape that fits several layouts is an error naming them, never a silent guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LAYOUTS = ("yolov5", "yolov8", "end2end", "rtdetr", "rtdetr_topk", "ssd")
NEEDS_NMS = frozenset({"yolov5", "yolov8"})

_DESCRIBE = {
    "yolov8": "Ultralytics YOLOv5u/v8/11/26, (1, 4+C, N) cx,cy,w,h,scores",
    "yolov5": "classic YOLOv5 with objectness, (1, N, 5+C)",
    "end2end": "NMS-free YOLOv10/YOLO26 or nms=True export, (1, K, 6) x1,y1,x2,y2,score,class",
    "rtdetr": "RT-DETR, (1, K, 4+C) normalised cx,cy,w,h,scores",
    "rtdetr_topk": "RT-DETR (Ultralytics 8.4), (1, K, 6) normalised cx,cy,w,h,score,class",
    "ssd": "SSD / TF Object Detection API: boxes, scores, classes, count",
}


class LayoutError(ValueError):
    """An output shape no decoder understands, one that contradicts the class count, or an ambiguous one."""


@dataclass(frozen=True)
class Candidates:
    boxes: np.ndarray  # (M, 4) xyxy, input pixels
    scores: np.ndarray  # (M,)
    class_ids: np.ndarray  # (M,) model class index

    @classmethod
    def empty(cls) -> Candidates:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))


def _fits(layout: str, shapes: Sequence[tuple[int, ...]], c: int) -> bool:
    if layout == "ssd":
        return len(shapes) >= 3 and any(len(s) == 3 and s[-1] == 4 for s in shapes)
    shape = shapes[0]
    if len(shape) != 3:
        return False
    _, a, b = shape
    return {
        "yolov8": (a == 4 + c and b > a) or (b == 4 + c and a > b),
        "yolov5": b == 5 + c and a > b,
        "end2end": b == 6 and a > b,
        "rtdetr": b == 4 + c and a > b,
        "rtdetr_topk": b == 6 and a > b,
    }[layout]


def layouts_fitting(shapes: Sequence[tuple[int, ...]], num_classes: int) -> list[str]:
    """Every layout these output shapes could be, most specific first."""
    if _fits("ssd", shapes, num_classes):
        return ["ssd"]
    shape = shapes[0]
    if len(shape) == 3 and shape[1] == 4 + num_classes and shape[2] > shape[1]:
        return ["yolov8"]  # the exported (4+C, N) orientation: nothing else is shaped so
    return [layout for layout in ("end2end", "rtdetr_topk", "yolov5", "yolov8", "rtdetr")
            if _fits(layout, shapes, num_classes)]


def detect_layout(shapes: Sequence[tuple[int, ...]] | tuple[int, ...], num_classes: int) -> str:
    """The one layout the output shapes fit; an error naming the `--layout` choices when several do."""
    if shapes and isinstance(shapes[0], int):
        shapes = [shapes]  # type: ignore[list-item]
    shapes = [tuple(s) for s in shapes]  # type: ignore[union-attr]
    if len(shapes[0]) != 3 and not _fits("ssd", shapes, num_classes):
        raise LayoutError(f"output shape {list(shapes[0])} is not a detection output (expected 3 dimensions)")
    found = layouts_fitting(shapes, num_classes)
    c = num_classes
    if not found:
        raise LayoutError(
            f"output shape {list(shapes[0])} fits no known layout for {c} classes "
            f"(yolov5 (1, N, {5 + c}), yolov8 (1, {4 + c}, N), end2end (1, K, 6), rtdetr (1, K, {4 + c}), "
            "ssd boxes/scores/classes/count)"
        )
    if len(found) > 1:
        choices = "; ".join(f"--layout {name} ({_DESCRIBE[name]})" for name in found)
        raise LayoutError(f"output shape {list(shapes[0])} with {c} classes is ambiguous and the model has no "
                          f"metadata saying which it is: give one of {choices}")
    return found[0]


def check_layout(layout: str, shapes: Sequence[tuple[int, ...]] | tuple[int, ...], num_classes: int) -> str:
    """A layout named in a manifest (or by metadata) must agree with the output it is meant to read."""
    if layout not in LAYOUTS:
        raise LayoutError(f"unknown output layout '{layout}' (known: {', '.join(LAYOUTS)})")
    if shapes and isinstance(shapes[0], int):
        shapes = [shapes]  # type: ignore[list-item]
    shapes = [tuple(s) for s in shapes]  # type: ignore[union-attr]
    if not _fits(layout, shapes, num_classes):
        raise LayoutError(f"output shape {list(shapes[0])} is not a {layout} output for {num_classes} classes")
    return layout


def _cxcywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    half = b[:, 2:4] / 2
    return np.concatenate([b[:, 0:2] - half, b[:, 0:2] + half], axis=1)


def decode(outputs: Sequence[np.ndarray] | np.ndarray, layout: str, num_classes: int, score_threshold: float, *,
           input_size: tuple[int, int] = (1, 1), label_offset: int = 0) -> Candidates:
    """Candidates scoring above `score_threshold` (strictly, as Ultralytics' predict filters).

    `outputs`: the model's outputs in session order, except for ssd: (boxes, scores, classes[, count]).
    `input_size`: (width, height) of the model input, for layouts with normalised coordinates.
    """
    if isinstance(outputs, np.ndarray):
        outputs = [outputs]
    out = outputs[0][0]
    if layout == "yolov8":
        if out.shape[0] == 4 + num_classes:  # (4+C, N) as exported (also when square): no transpose
            # max over classes first (a cheap reduction), argmax only for the few that pass
            scores = out[4:].max(0)
            keep = scores > score_threshold
            kept = out[:, keep]
            boxes = _cxcywh_to_xyxy(kept[:4].T)
            return Candidates(boxes, scores[keep], kept[4:].argmax(0).astype(np.int32))
        return _best_class(out[:, :4], out[:, 4:], score_threshold)
    if layout == "yolov5":
        keep = out[:, 4] > score_threshold  # cheap pre-filter: score = obj * cls <= obj
        out = out[keep]
        return _best_class(out[:, :4], out[:, 5:] * out[:, 4:5], score_threshold)
    if layout == "rtdetr":
        w, h = input_size
        cand = _best_class(out[:, :4], out[:, 4:], score_threshold)
        return Candidates(cand.boxes * np.array([w, h, w, h], np.float32), cand.scores, cand.class_ids)
    if layout == "rtdetr_topk":
        w, h = input_size
        keep = out[:, 4] > score_threshold
        out = out[keep]
        boxes = _cxcywh_to_xyxy(out[:, :4]) * np.array([w, h, w, h], np.float32)
        return _valid(boxes, out[:, 4], out[:, 5], num_classes, 0)
    if layout == "end2end":
        keep = out[:, 4] > score_threshold
        out = out[keep]
        return _valid(out[:, :4].copy(), out[:, 4], out[:, 5], num_classes, 0)
    if layout == "ssd":
        w, h = input_size
        boxes, scores, classes = (np.asarray(o).reshape(-1, *o.shape[2:]) for o in outputs[:3])
        if len(outputs) > 3:
            n = int(np.asarray(outputs[3]).reshape(-1)[0])
            boxes, scores, classes = boxes[:n], scores[:n], classes[:n]
        keep = scores > score_threshold
        yxyx = boxes[keep].astype(np.float32)
        xyxy = yxyx[:, [1, 0, 3, 2]] * np.array([w, h, w, h], np.float32)
        return _valid(xyxy, scores[keep], classes[keep], num_classes, label_offset)
    raise LayoutError(f"unknown output layout '{layout}'")


def _best_class(cxcywh: np.ndarray, cls_scores: np.ndarray, score_threshold: float) -> Candidates:
    class_ids = cls_scores.argmax(1)
    scores = cls_scores[np.arange(len(cls_scores)), class_ids]
    keep = scores > score_threshold
    return Candidates(_cxcywh_to_xyxy(cxcywh[keep]), scores[keep], class_ids[keep].astype(np.int32))


def _valid(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, num_classes: int, offset: int) -> Candidates:
    class_ids = np.rint(classes).astype(np.int32) - offset
    valid = (class_ids >= 0) & (class_ids < num_classes)
    return Candidates(boxes[valid].astype(np.float32, copy=False), scores[valid].astype(np.float32, copy=False),
                      class_ids[valid])
