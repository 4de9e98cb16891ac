"""The shipped aerial model (models/aerial) through the node's own detection stage, on held-out drone renders.

The model was fine-tuned on random aerial scenes (models/train/aerial_scenes.py) and never saw the
shipped drone scenarios, so their frames are held out: what the drone profile's tiled looks find there
is what a drone node finds.  Each frame below is a tiled look (they are seconds apart).
"""

from __future__ import annotations

import json

import numpy as np

from edge.capture import Frame
from edge.config import load_profile
from edge.detect.model import sha256_file
from edge.pipeline import build_detection
from edge.track.tracker import iou_matrix
from simulator.render import Renderer
from simulator.scenario import load_scenario

from .conftest import REPO, SCENARIOS

MODEL = REPO / "models" / "aerial"


def test_the_aerial_model_folder_is_intact_and_has_the_default_layout():
    manifest = json.loads((MODEL / "manifest.json").read_text())
    default = json.loads((REPO / "models" / "default" / "manifest.json").read_text())
    assert manifest["sha256"] == sha256_file(MODEL / manifest["file"])
    assert (MODEL / "labels.txt").read_text() == (REPO / "models" / "default" / "labels.txt").read_text()
    assert manifest["classes"] == default["classes"] and manifest["input"] == default["input"]
    assert manifest["output"] == default["output"]
    assert (MODEL / "MODEL_CARD.md").is_file()
    profile = load_profile(REPO / "firmware_config" / "drone.toml")
    assert profile.resolve(profile.detect.model).resolve() == MODEL.resolve()


def looks(scenario: str, times: list[float], cls: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """(labelled boxes, detected boxes) of class `cls` in the frames at `times`, each a tiled look
    of the drone profile's detection stage (a new one: its first look is tiled, then every 10 s)."""
    stage = build_detection(load_profile(REPO / "firmware_config" / "drone.toml"), threads=2)
    assert stage.tiles is not None and stage.detector.model.path.resolve() == MODEL.resolve()
    renderer = Renderer(load_scenario(str(SCENARIOS / f"{scenario}.toml")))
    out = []
    for k, t in enumerate(times):
        rendered = renderer.render(int(round(t * renderer.fps)))
        found = stage.process(Frame(rendered.image, k + 1, mono=1000.0 + 10 * k, wall=1000.0 + 10 * k))
        labelled = np.array([lab.box for lab in rendered.labels if lab.cls == cls], np.float64).reshape(-1, 4)
        mine = np.array([n == cls for n in found.names], bool)
        out.append((labelled, found.boxes[mine].astype(np.float64).reshape(-1, 4)))
    return out


def recall_precision(pairs, iou: float = 0.3) -> tuple[float, float, int]:
    labelled = found = hits = correct = 0
    for gt, det in pairs:
        m = iou_matrix(gt, det) if len(gt) and len(det) else np.zeros((len(gt), len(det)))
        labelled, found = labelled + len(gt), found + len(det)
        hits += int((m >= iou).any(axis=1).sum()) if len(det) else 0
        correct += int((m >= iou).any(axis=0).sum()) if len(gt) else 0
    return hits / max(labelled, 1), correct / max(found, 1), labelled


def test_it_finds_the_boat_loitering_on_the_water():
    recall, precision, labelled = recall_precision(looks("drone_day_boat_loiter", [50, 62, 75, 88, 100, 112],
                                                         "boat"))
    assert labelled >= 6
    assert recall >= 0.8 and precision >= 0.8, (recall, precision)


def test_it_finds_the_angler_and_the_people_on_the_bank():
    times = [56, 66, 76, 86, 96, 106]
    recall, precision, labelled = recall_precision(looks("drone_day_bank_angler", times, "person"))
    assert labelled >= 6
    assert recall >= 0.7 and precision >= 0.8, (recall, precision)
