"""`edge-node model eval`: mAP, per-class AP, precision and recall on YOLO-labelled frames."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.detect.evaluate import EvalError, evaluate

from .conftest import REPO, run_cli
from .onnx_models import model_folder, yolov8_output

PHOTOS = REPO / "tests" / "data" / "photos"


def yolo_labels(folder: Path, boxes: dict[str, list[tuple[int, tuple[float, float, float, float]]]],
                size: tuple[int, int]) -> Path:
    """Write YOLO label files (class cx cy w h, normalised) as CVAT / Label Studio export them."""
    folder.mkdir(parents=True, exist_ok=True)
    w, h = size
    for stem, items in boxes.items():
        lines = [f"{c} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}"
                 for c, (x1, y1, x2, y2) in items]
        (folder / f"{stem}.txt").write_text("\n".join(lines) + "\n")
    return folder


def test_perfect_boxes_score_one_and_a_false_box_costs_precision_not_ap(tmp_path):
    # The model finds both labelled objects exactly, plus a false one scoring lower than both.
    rows = [(100, 100, 40, 40, 0, 0.9), (200, 200, 40, 80, 1, 0.8), (250, 60, 30, 30, 0, 0.5)]
    model = model_folder(tmp_path / "m", yolov8_output(rows, 2), ["person", "boat"])
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "f1.png"), np.full((320, 320, 3), 90, np.uint8))
    cv2.imwrite(str(images / "f2.png"), np.full((320, 320, 3), 90, np.uint8))  # no label file: background
    labels = yolo_labels(tmp_path / "labels", {"f1": [(0, (80, 80, 120, 120)), (1, (180, 160, 220, 240))]}, (320, 320))
    result = evaluate(model, images, labels, score_threshold=0.4)
    assert result["images"] == 2 and result["images_without_labels"] == 1
    # f2 shows the same constant output: 3 more detections there, all false
    assert result["per_class"]["person"]["ap50"] == 1.0 and result["per_class"]["boat"]["ap50"] == 1.0
    assert result["map50"] == 1.0 and result["map50_95"] == 1.0
    assert result["per_class"]["person"]["precision"] == 0.25  # 1 of 4 person boxes at >= 0.4 is right
    assert result["recall"] == 1.0


def test_eval_cli_on_real_photos_prints_json_and_a_table(tmp_path):
    entries = json.loads((PHOTOS / "labels.json").read_text())["images"]
    labels = tmp_path / "labels"
    labels.mkdir()
    for name, entry in entries.items():
        h, w = cv2.imread(str(PHOTOS / name)).shape[:2]
        people = [(0, tuple(o["box"])) for o in entry["objects"] if o["class"] == "person"]
        yolo_labels(labels, {Path(name).stem: people}, (w, h))
    (tmp_path / "classes.txt").write_text("person\n")
    run = run_cli("edge-node", "model", "eval", str(REPO / "models" / "person-ssdlite"), "--images", str(PHOTOS),
                  "--labels", str(labels), "--names", str(tmp_path / "classes.txt"),
                  "--config", str(REPO / "firmware_config" / "reservoir-person.toml"), timeout=120)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    print(run.stderr)
    assert result["score_threshold"] == 0.35 and result["per_class"]["person"]["labelled"] == 9
    assert result["per_class"]["person"]["ap50"] >= 0.6 and result["precision"] >= 0.9
    assert "AP50-95" in run.stderr and "person" in run.stderr


@pytest.mark.parametrize("case", ["no_labels", "orphan", "no_images", "bad_class", "empty"])
def test_bad_folders_get_one_line(tmp_path, case):
    model = model_folder(tmp_path / "m", yolov8_output([], 2), ["person", "boat"])
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    cv2.imwrite(str(images / "a.jpg"), np.full((64, 64, 3), 90, np.uint8))
    want = {"no_labels": "no label files", "orphan": "have no image of the same name",
            "no_images": "no images", "bad_class": "class 7 is not one of the 2 names",
            "empty": "hold no boxes"}[case]
    if case == "orphan":
        (labels / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
        (labels / "b.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    elif case == "no_images":
        (images / "a.jpg").unlink()
    elif case == "bad_class":
        (labels / "a.txt").write_text("7 0.5 0.5 0.2 0.2\n")
    elif case == "empty":
        (labels / "a.txt").write_text("")
    with pytest.raises(EvalError, match=want):
        evaluate(model, images, labels)
    run = run_cli("edge-node", "model", "eval", str(model), "--images", str(images), "--labels", str(labels))
    assert run.returncode == 2 and want in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
