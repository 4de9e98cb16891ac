"""The shipped default model (models/default) through the node's own detector, on held-out renders.

The model never saw the shipped scenarios (models/train renders random scenes of its own), so their
frames are a held-out set: what the node finds there is what an operator gets from the box.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge.detect import Detector
from edge.detect.model import sha256_file
from edge.track.tracker import iou_matrix
from simulator.render import Renderer
from simulator.scenario import load_scenario

from .conftest import REPO, SCENARIOS

MODEL = REPO / "models" / "default"
# Day, dusk and night at both sites; every 40th frame.
HELD_OUT = ["reservoir_day_angler", "reservoir_dusk_two_anglers", "reservoir_night_boat_loiter",
            "market_day_fire_lane_parking", "market_dusk_busy_mixed", "market_night_stall_and_traffic"]


def test_the_model_folder_is_intact_and_names_the_rule_classes():
    manifest = json.loads((MODEL / "manifest.json").read_text())
    assert manifest["sha256"] == sha256_file(MODEL / manifest["file"])
    assert (MODEL / "labels.txt").read_text().split() == manifest["classes"] == [
        "person", "fishing_rod", "boat", "stall", "cart", "vehicle"]
    assert (MODEL / "MODEL_CARD.md").is_file()


@pytest.fixture(scope="module")
def matches():
    detector = Detector(MODEL, threads=2)
    found: dict[str, list[int]] = {}  # class -> [true objects, found, detections, correct detections]
    for name in HELD_OUT:
        renderer = Renderer(load_scenario(SCENARIOS / f"{name}.toml"))
        for i in range(0, renderer.n_frames, 40):
            frame = renderer.render(i)
            dets = detector.detect(frame.image)
            for cls in detector.classes:
                truth = np.array([lab.box for lab in frame.labels if lab.cls == cls], np.float32).reshape(-1, 4)
                mine = dets.boxes[np.array(dets.names) == cls] if len(dets.boxes) else np.zeros((0, 4))
                row = found.setdefault(cls, [0, 0, 0, 0])
                row[0] += len(truth)
                row[2] += len(mine)
                if len(truth) and len(mine):
                    iou = iou_matrix(np.asarray(truth, float), np.asarray(mine, float))
                    row[1] += int((iou.max(axis=1) >= 0.5).sum())
                    row[3] += int((iou.max(axis=0) >= 0.5).sum())
    return found


@pytest.mark.parametrize(("cls", "recall"), [("person", 0.8), ("boat", 0.8), ("stall", 0.8), ("vehicle", 0.8),
                                             ("fishing_rod", 0.6)])
def test_recall_on_held_out_scenes(matches, cls, recall):
    objects, hit, _, _ = matches[cls]
    assert objects > 0, f"no {cls} in the held-out frames"
    assert hit / objects >= recall, f"{cls}: found {hit} of {objects}"


def test_precision_on_held_out_scenes(matches):
    detections = sum(row[2] for row in matches.values())
    correct = sum(row[3] for row in matches.values())
    assert detections > 50 and correct / detections >= 0.8, matches


def test_the_shipped_profiles_with_the_default_model_alert_on_held_out_scenarios(tmp_path):
    """`edge-sim score` with the shipped profiles and model (no oracle): the angler and the van in
    the fire lane are alerted, nothing else is."""
    from .conftest import run_cli

    out = tmp_path / "score.json"
    result = run_cli("edge-sim", "score", "--workers", "2", "--out", str(out), "reservoir_dusk_two_anglers",
                     "market_day_fire_lane_parking", timeout=600)
    assert result.returncode == 0, result.stderr
    summary = json.loads(out.read_text())
    assert summary["expected"] == 3 and summary["matched"] == 3 and summary["false_alerts"] == 0, summary
