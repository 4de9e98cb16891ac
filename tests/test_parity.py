"""Box-for-box parity with Ultralytics' own predict, on its own ONNX exports (fixtures in tests/data/parity).

The fixtures were recorded once in a scratch venv by tests/data/parity/record.py; Ultralytics is not a
dependency.  Each export is imported from its metadata alone (no --labels, no --layout), then the
node's Detector must give the same number of boxes as the reference, each within 1 px, same class.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.detect import Detector
from edge.detect.importer import import_model

DATA = Path(__file__).parent / "data"
PARITY = DATA / "parity"
CASES = [  # fixture, layout the metadata must give
    ("yolov8", "yolov8"),  # one-to-many head: NMS
    ("yolo26_one2many", "yolov8"),  # YOLO26's one-to-many head (nms not asked for)
    ("yolo26_e2e", "end2end"),  # nms=False, NMS-free, two classes: (1, 300, 6), not a transposed yolov8
    ("yolo26_e2e_dynamic", "end2end"),  # dynamic=True: fixed at import to the metadata's imgsz
    ("rtdetr", "rtdetr_topk"),  # Ultralytics 8.4: (1, 300, 6) normalised cx,cy,w,h,score,class; stretched input
]


def compare(node_boxes: np.ndarray, node_cls: np.ndarray, ref_boxes: np.ndarray, ref_cls: np.ndarray):
    """(matched, max px difference over matched pairs): each reference box to its nearest node box."""
    used = np.zeros(len(node_boxes), bool)
    matched, worst = 0, 0.0
    for box, cls in zip(ref_boxes, ref_cls, strict=True):
        diff = np.abs(node_boxes - box).max(1) if len(node_boxes) else np.zeros(0)
        diff = np.where(used | (node_cls != cls), np.inf, diff)
        if len(diff) and diff.min() <= 1.0:
            j = int(diff.argmin())
            used[j] = True
            matched += 1
            worst = max(worst, float(diff[j]))
    return matched, worst


@pytest.mark.parametrize(("name", "layout"), CASES)
def test_node_boxes_match_ultralytics_predict(tmp_path, name, layout):
    fixture = json.loads((PARITY / f"{name}.json").read_text())
    manifest = import_model(PARITY / f"{name}.onnx", tmp_path / "m")
    assert manifest.output.layout == layout
    assert (manifest.input.width, manifest.input.height) == (fixture["imgsz"], fixture["imgsz"])
    det = Detector(tmp_path / "m", score_threshold=fixture["conf"], iou_threshold=fixture["iou"], max_detections=300)
    total = 0
    for image, ref in fixture["images"].items():
        frame = cv2.imread(str(DATA / "photos" / image))
        h, w = frame.shape[:2]
        found = det.detect(frame)
        # The node keeps every box inside the picture; Ultralytics' RT-DETR path does not clip.
        ref_boxes = np.clip(np.array(ref["xyxy"], np.float64).reshape(-1, 4), 0, [w, h, w, h])
        ref_cls = np.array(ref["cls"], np.int64)
        node_cls = np.array([manifest.classes.index(n) for n in found.names], np.int64)
        matched, worst = compare(found.boxes.astype(np.float64), node_cls, ref_boxes, ref_cls)
        print(f"{name:16} {layout:8} {image:18} reference {len(ref_boxes):4} node {len(found):4} "
              f"matched {matched:4} max px {worst:.3f}")
        assert len(found) == len(ref_boxes), image
        assert matched == len(ref_boxes), image
        total += len(ref_boxes)
    assert total > 0  # a fixture with no boxes would prove nothing


def test_the_shipped_ssd_model_matches_its_tensorflow_reference():
    """models/person-ssdlite (ONNX, the node's Detector) against the package's own TF graph and recipe
    (tests/data/parity/record_ssd.py): same boxes, same count, on every test photo."""
    fixture = json.loads((PARITY / "ssdlite_tf.json").read_text())
    det = Detector(Path(__file__).resolve().parent.parent / "models" / "person-ssdlite",
                   score_threshold=fixture["conf"])
    total = 0
    for image, ref in fixture["images"].items():
        found = det.detect(cv2.imread(str(DATA / "photos" / image)))
        ref_boxes = np.array(ref["xyxy"], np.float64).reshape(-1, 4)
        matched, worst = compare(found.boxes.astype(np.float64), np.zeros(len(found), np.int64), ref_boxes,
                                 np.array(ref["cls"], np.int64))
        print(f"{'person-ssdlite':16} {'ssd':8} {image:18} reference {len(ref_boxes):4} node {len(found):4} "
              f"matched {matched:4} max px {worst:.3f}")
        assert len(found) == len(ref_boxes) == matched, image
        np.testing.assert_allclose(np.sort(found.scores), np.sort(ref["conf"]), atol=1e-4)
        total += len(ref_boxes)
    assert total > 0
