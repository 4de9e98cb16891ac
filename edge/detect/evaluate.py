"""`edge-node model eval`: how well a model folder finds what an integrator labelled on their own frames.

Labels are YOLO text files (one per image, same stem; `class cx cy w h` normalised), as CVAT, Label
Studio and Roboflow export them.  Class numbers are indices into the model's labels unless a names
file (labels.txt or a data YAML) says otherwise; classes are then matched by name.  Detection runs
through the node's own Detector (its letterbox, decoder and NMS), at a near-zero threshold for the
AP curves, and precision/recall are read at the profile's threshold.

AP: COCO's 101-point interpolation of the precision envelope, at IoU 0.5 and averaged over
0.50:0.05:0.95 (the figures Ultralytics' `val` prints).  A detection matches the unmatched ground
truth box of its class with the highest IoU, best-scoring detections first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .model import ModelError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
IOUS = np.linspace(0.5, 0.95, 10)


class EvalError(ModelError):
    """A folder that cannot be evaluated; the message is one line."""


@dataclass
class Sample:
    image: Path
    boxes: np.ndarray  # (n, 4) xyxy pixels
    classes: list[str]


def _images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise EvalError(f"{folder}: not a folder of images")
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise EvalError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
    return found


def load_samples(images: Path, labels: Path, names: Sequence[str]) -> tuple[list[Sample], int]:
    """The labelled samples, and how many images had no label file (YOLO: background)."""
    pictures = _images(images)
    if not labels.is_dir():
        raise EvalError(f"{labels}: not a folder of YOLO label files")
    label_files = {p.stem: p for p in labels.glob("*.txt") if p.name != "classes.txt"}
    if not label_files:
        raise EvalError(f"{labels}: no label files (*.txt, one per image, `class cx cy w h` normalised)")
    stems = {p.stem for p in pictures}
    orphans = sorted(set(label_files) - stems)
    if orphans:
        raise EvalError(f"{labels}: {len(orphans)} label file(s) have no image of the same name in {images} "
                        f"(first: {orphans[0]}.txt)")
    samples, missing = [], 0
    for picture in pictures:
        path = label_files.get(picture.stem)
        image = cv2.imread(str(picture), cv2.IMREAD_COLOR)
        if image is None:
            raise EvalError(f"{picture}: not a readable image")
        h, w = image.shape[:2]
        boxes, classes = [], []
        if path is None:
            missing += 1
        else:
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                parts = line.split()
                try:
                    cls, cx, cy, bw, bh = int(parts[0]), *map(float, parts[1:5])
                except (ValueError, IndexError):
                    raise EvalError(f"{path}:{n}: expected `class cx cy w h`, got {line.strip()!r}") from None
                if not 0 <= cls < len(names):
                    raise EvalError(f"{path}:{n}: class {cls} is not one of the {len(names)} names "
                                    f"({', '.join(names[:8])}{', ...' if len(names) > 8 else ''}); give --names")
                boxes.append(((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h))
                classes.append(names[cls])
        samples.append(Sample(picture, np.array(boxes, np.float64).reshape(-1, 4), classes))
    if not any(s.classes for s in samples):
        raise EvalError(f"{labels}: the label files hold no boxes")
    return samples, missing


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(2)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-12)


def match(det_boxes: np.ndarray, det_scores: np.ndarray, gt_boxes: np.ndarray) -> np.ndarray:
    """(n_det, 10) true-positive flags at each IoU of IOUS, detections of one class in one image."""
    tp = np.zeros((len(det_boxes), len(IOUS)), bool)
    if not len(det_boxes) or not len(gt_boxes):
        return tp
    ious = iou_matrix(det_boxes, gt_boxes)
    order = np.argsort(-det_scores, kind="stable")
    for t, thr in enumerate(IOUS):
        taken = np.zeros(len(gt_boxes), bool)
        for i in order:
            candidates = np.where(~taken & (ious[i] >= thr), ious[i], -1)
            j = int(candidates.argmax())
            if candidates[j] >= 0:
                taken[j] = True
                tp[i, t] = True
    return tp


def average_precision(tp: np.ndarray, scores: np.ndarray, npos: int) -> np.ndarray:
    """COCO 101-point AP for each IoU column of `tp`."""
    if npos == 0:
        return np.zeros(tp.shape[1])
    order = np.argsort(-scores, kind="stable")
    tps = np.cumsum(tp[order], 0)
    fps = np.cumsum(~tp[order], 0)
    recall = tps / npos
    precision = tps / np.maximum(tps + fps, 1e-12)
    grid = np.linspace(0, 1, 101)
    aps = []
    for t in range(tp.shape[1]):
        if not len(order):
            aps.append(0.0)
            continue
        envelope = np.flip(np.maximum.accumulate(np.flip(precision[:, t])))
        idx = np.searchsorted(recall[:, t], grid, side="left")
        aps.append(float(np.where(idx < len(envelope), envelope[np.minimum(idx, len(envelope) - 1)], 0).mean()))
    return np.array(aps)


def evaluate(model_dir: str | Path, images: Path, labels: Path, *, names: Sequence[str] | None = None,
             score_threshold: float = 0.35, iou_threshold: float = 0.45, threads: int | None = None) -> dict:
    from .detector import Detector

    detector = Detector(model_dir, score_threshold=0.001, iou_threshold=iou_threshold, threads=threads)
    names = list(names) if names is not None else list(detector.labels)
    samples, missing = load_samples(images, labels, names)
    unknown = sorted({c for s in samples for c in s.classes} - set(detector.labels))
    if unknown:
        raise EvalError(f"{labels}: labelled classes {', '.join(unknown)} are not labels of the model "
                        f"({', '.join(detector.labels[:8])}{', ...' if len(detector.labels) > 8 else ''})")
    per_class: dict[str, dict[str, list]] = {}
    for sample in samples:
        image = cv2.imread(str(sample.image), cv2.IMREAD_COLOR)
        found = detector.detect(image)
        for cls in set(sample.classes) | set(found.names):
            gt = sample.boxes[[c == cls for c in sample.classes]] if sample.classes else np.zeros((0, 4))
            mine = np.array([n == cls for n in found.names], bool)
            boxes, scores = found.boxes[mine].astype(np.float64), found.scores[mine]
            entry = per_class.setdefault(cls, {"tp": [], "scores": [], "npos": [0]})
            entry["tp"].append(match(boxes, scores, gt))
            entry["scores"].append(scores)
            entry["npos"][0] += len(gt)
    result_classes = {}
    for cls, entry in sorted(per_class.items()):
        npos = entry["npos"][0]
        if npos == 0:
            continue  # detections of a class nobody labelled: not part of the mAP (as in COCO)
        tp, scores = np.concatenate(entry["tp"]), np.concatenate(entry["scores"])
        ap = average_precision(tp, scores, npos)
        at = scores >= score_threshold
        hits = int(tp[at, 0].sum())
        result_classes[cls] = {
            "labelled": npos, "detected": int(at.sum()), "ap50": round(float(ap[0]), 4),
            "ap50_95": round(float(ap.mean()), 4),
            "precision": round(hits / max(int(at.sum()), 1), 4), "recall": round(hits / npos, 4), "_hits": hits,
        }
    labelled = sum(c["labelled"] for c in result_classes.values())
    detected = sum(c["detected"] for c in result_classes.values())
    hits = sum(c.pop("_hits") for c in result_classes.values())
    return {
        "model": str(model_dir), "images": len(samples), "images_without_labels": missing,
        "score_threshold": score_threshold, "iou_threshold": iou_threshold,
        "map50": round(float(np.mean([c["ap50"] for c in result_classes.values()])), 4),
        "map50_95": round(float(np.mean([c["ap50_95"] for c in result_classes.values()])), 4),
        "precision": round(hits / max(detected, 1), 4), "recall": round(hits / max(labelled, 1), 4),
        "per_class": result_classes,
    }


def format_table(result: dict) -> str:
    lines = [f"{'class':<16}{'labelled':>9}{'detected':>9}{'P':>8}{'R':>8}{'AP50':>8}{'AP50-95':>9}"]
    for cls, c in result["per_class"].items():
        lines.append(f"{cls:<16}{c['labelled']:>9}{c['detected']:>9}{c['precision']:>8.3f}{c['recall']:>8.3f}"
                     f"{c['ap50']:>8.3f}{c['ap50_95']:>9.3f}")
    lines.append(f"{'all':<16}{'':>9}{'':>9}{result['precision']:>8.3f}{result['recall']:>8.3f}"
                 f"{result['map50']:>8.3f}{result['map50_95']:>9.3f}")
    lines.append(f"{result['images']} images ({result['images_without_labels']} without a label file, counted "
                 f"as background); P and R at score >= {result['score_threshold']}, IoU 0.5")
    return "\n".join(lines)
