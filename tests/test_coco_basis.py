"""COCO-class and person-only models with the rules: the "coco" class map, the fishing rule's
"loitering" basis, `basis` on every lifecycle message, and the reservoir-person profile on the
simulator and on real photographs."""

from __future__ import annotations

import json

import cv2
import numpy as np

from edge.config import load_profile
from edge.config.profile import Profile
from edge.detect import Detector
from edge.pipeline import build_detection
from edge.rules import RuleEngine

from .conftest import PROFILES, REPO, run_cli
from .onnx_models import model_folder, yolov8_output
from .schemas import assert_valid
from .test_rules import FISHING, SIZE, T0, Script, profile, track

PERSON_PROFILE = PROFILES / "reservoir-person.toml"
COCO = ["person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat"]


def test_the_coco_preset_maps_labels_onto_rule_classes(tmp_path):
    rows = [(100, 100, 60, 40, 2, 0.9), (101, 100, 60, 40, 7, 0.8),  # car and truck on one spot: one vehicle
            (250, 250, 20, 40, 0, 0.7), (250, 100, 20, 20, 1, 0.9),  # a person; a bicycle (no rule class)
            (40, 250, 40, 20, 8, 0.6)]  # a boat
    folder = model_folder(tmp_path / "m", yolov8_output(rows, len(COCO)), COCO)
    det = Detector(folder, classes=("person", "boat", "vehicle"), class_map="coco", score_threshold=0.3)
    d = det.detect(np.full((320, 320, 3), 90, np.uint8))
    assert sorted(d.names) == ["boat", "person", "vehicle"]
    assert d.scores[d.names.index("vehicle")] == np.float32(0.9)


def test_loitering_basis_warns_on_a_person_standing_still_and_says_so():
    rule = {**FISHING, "basis": "loitering"}
    engine = RuleEngine(profile([rule]), version="t")
    bodies = []
    for i in range(300):  # 60 s at 5 fps, the person never moves
        t = i / 5
        bodies += [e.message for e in engine.update([track(1, "person", (400, 600, 440, 700), t, stationary=True)],
                                                    t, T0 + t, SIZE)]
    assert [b["stage"] for b in bodies] == ["warning", "alert"]
    for body in bodies:
        assert body["basis"] == "loitering" and body["kind"] == "fishing"
        assert_valid("alert", body)
    walker = Script(RuleEngine(profile([rule]))).run(
        60, lambda t: [track(2, "person", (10 * t, 600, 10 * t + 40, 700), t, stationary=False)])
    assert walker.stages() == []  # walking along the bank is not loitering


def test_every_lifecycle_message_carries_its_basis():
    rules = [FISHING, {"name": "stall", "kind": "stall", "zones": ["shore"], "dwell_s": 5, "recheck_s": 5}]
    engine = RuleEngine(profile(rules), version="t")
    bodies = []

    def scene(t):
        return [track(1, "person", (400, 600, 440, 700), t), track(2, "fishing_rod", (430, 500, 520, 620), t),
                track(3, "stall", (100, 600, 200, 700), t, stationary=True)]

    for i in range(300):
        bodies += [e.message for e in engine.update(scene(i / 5), i / 5, T0 + i / 5, SIZE)]
    bases = {(b["rule"], b["basis"]) for b in bodies}
    assert bases == {("no_fishing", "rod"), ("stall", "stationary")}
    for body in bodies:
        assert_valid("alert", body)


def test_check_config_says_which_basis_a_profile_uses(tmp_path):
    run = run_cli("edge-node", "check-config", str(PERSON_PROFILE), str(PROFILES / "reservoir.toml"))
    assert run.returncode == 0, run.stderr
    assert f"{PERSON_PROFILE}: rules.no_fishing: fishing on the 'loitering' basis" in run.stdout
    assert f"{PROFILES / 'reservoir.toml'}: rules.no_fishing: fishing on the 'rod' basis" in run.stdout
    # a rod rule with a person-only model: the error says what to do
    text = PERSON_PROFILE.read_text().replace('classes = ["person"]\nclass_map', 'classes = ["person", "fishing_rod"]\n'
                                              'class_map').replace('basis = "loitering"', "")
    text = text.replace('model = "../models/person-ssdlite"', f'model = "{REPO / "models" / "person-ssdlite"}"')
    bad = tmp_path / "rod.toml"
    bad.write_text(text)
    run = run_cli("edge-node", "check-config", str(bad))
    assert run.returncode == 2
    assert "needs fishing_rod, which the model cannot detect" in run.stderr and 'basis = \\"loitering\\"' not in run.stderr
    assert 'set basis = "loitering"' in run.stderr
    bad.write_text(text.replace('kind = "fishing"', 'kind = "stall"\nbasis = "rod"'))
    run = run_cli("edge-node", "check-config", str(bad))
    assert run.returncode == 2 and "basis applies to fishing rules only" in run.stderr


def test_reservoir_person_profile_on_the_simulator(tmp_path):
    """Rules and tracker on the angler scenario (oracle detections of the profile's one class)."""
    out = tmp_path / "score.json"
    run = run_cli("edge-sim", "score", "--oracle", "--workers", "1", "--config", str(PERSON_PROFILE),
                  "reservoir_day_angler", "--out", str(out), timeout=600)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    print("reservoir-person oracle", json.dumps(summary))
    assert summary["recall"] == 1.0


def test_reservoir_person_profile_sees_the_people_in_real_photos():
    prof: Profile = load_profile(PERSON_PROFILE)
    stage = build_detection(prof, threads=1)
    labels = json.loads((REPO / "tests" / "data" / "photos" / "labels.json").read_text())["images"]
    for name in ("bus.jpg", "zidane.jpg", "camera.jpg", "chelsea.jpg"):
        d = stage.detector.detect(cv2.imread(str(REPO / "tests" / "data" / "photos" / name)))
        full = [o for o in labels[name]["objects"] if o["class"] == "person" and o["full"]]
        assert d.names == ["person"] * len(full), name


def test_an_unknown_preset_is_one_clear_line(tmp_path):
    bad = tmp_path / "p.toml"
    bad.write_text(PERSON_PROFILE.read_text().replace('class_map = "coco"', 'class_map = "cocoa"')
                   .replace('"../models/person-ssdlite"', f'"{REPO / "models" / "person-ssdlite"}"'))
    run = run_cli("edge-node", "check-config", str(bad))
    assert run.returncode == 2
    assert run.stderr.strip() == f"{bad}: detect.class_map: unknown preset 'cocoa' (presets: coco; or a table label = class)"
