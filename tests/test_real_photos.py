"""Real photographs (tests/data/photos, from registry packages, boxes by hand): does a model see people?

The shipped real detector (models/person-ssdlite) must find >= 90 % of the fully visible people at
>= 90 % precision through the node's own Detector.  The simulator-trained default model's figures
are printed for comparison, not asserted: it was never meant for real pixels.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.detect import Detector
from edge.detect.evaluate import iou_matrix

REPO = Path(__file__).resolve().parent.parent
PHOTOS = REPO / "tests" / "data" / "photos"
LABELS = json.loads((PHOTOS / "labels.json").read_text())["images"]


def person_figures(detector: Detector, iou: float = 0.5) -> dict:
    """Recall over fully visible people; precision over boxes not on a partly visible person."""
    found = hits = false = full = 0
    per_image = {}
    for name, entry in LABELS.items():
        people = [o for o in entry["objects"] if o["class"] == "person"]
        full_boxes = np.array([o["box"] for o in people if o["full"]], np.float64).reshape(-1, 4)
        part_boxes = np.array([o["box"] for o in people if not o["full"]], np.float64).reshape(-1, 4)
        d = detector.detect(cv2.imread(str(PHOTOS / name)))
        boxes = d.boxes[np.array(d.names) == "person"].astype(np.float64) if len(d) else np.zeros((0, 4))
        ious = iou_matrix(boxes, full_boxes)
        taken = np.zeros(len(full_boxes), bool)
        mine_false = 0
        for i in range(len(boxes)):  # best first, as Detections come
            row = np.where(taken, -1, ious[i]) if len(full_boxes) else np.zeros(0)
            if len(row) and row.max() >= iou:
                taken[int(row.argmax())] = True
            elif not (len(part_boxes) and iou_matrix(boxes[i:i + 1], part_boxes).max() >= iou):
                mine_false += 1
        found += len(boxes)
        hits += int(taken.sum())
        false += mine_false
        full += len(full_boxes)
        per_image[name] = {"people": len(full_boxes), "found": int(taken.sum()), "false": mine_false}
    counted = hits + false
    return {"people": full, "found": hits, "false_boxes": false, "recall": round(hits / full, 3),
            "precision": round(hits / counted, 3) if counted else 1.0, "per_image": per_image}


def test_the_shipped_real_detector_sees_real_people():
    det = Detector(REPO / "models" / "person-ssdlite", score_threshold=0.35, threads=1)
    figures = person_figures(det)
    print("person-ssdlite", json.dumps(figures))
    assert figures["people"] >= 7
    assert figures["recall"] >= 0.9
    assert figures["precision"] >= 0.9
    # no person on the cat, the cup, the rocket or the motorcycle
    for empty in ("chelsea.jpg", "coffee.jpg", "rocket.jpg", "motorcycle.jpg"):
        assert figures["per_image"][empty]["false"] == 0, empty


def test_the_default_model_is_printed_for_comparison():
    default = REPO / "models" / "default"
    if not (default / "model.onnx").exists():
        pytest.skip("no default model")
    figures = person_figures(Detector(default, score_threshold=0.35, threads=1))
    print("default (simulator-trained)", json.dumps(figures))
    assert figures["people"] >= 7  # the figures are reported, not judged: it is the simulator's model
