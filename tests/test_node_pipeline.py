"""edge-node run with a model: detection -> tracking -> rules -> lifecycle lines on disk."""

from __future__ import annotations

import json

from edge.rules import read_events

from .conftest import SCENARIOS, run_cli
from .onnx_models import model_folder, yolov8_output

CLASSES = ["person", "fishing_rod", "boat", "stall", "cart", "vehicle"]
# A 1280x720 frame letterboxed into 320x320: scale 0.25, 70 rows of padding on top.
# Person at frame (600, 420)-(660, 520): feet at y = 0.72, on the shore band 0.6-0.8.
PERSON = (157.5, 187.5, 15.0, 25.0, 0, 0.9)
# Rod at frame (400, 330)-(640, 460), reaching from the angler's hands out over the water.
ROD = (130.0, 168.75, 60.0, 32.5, 1, 0.8)

PROFILE = """
[node]
id = "test-node"
kind = "camera"
timezone = "Asia/Shanghai"

[capture]
source = "usb:0"

[link]
enabled = false

[detect]
model = "model"
motion = {{ enabled = false }}

[[zones]]
name = "shore"
polygon = [[0.0, 0.60], [1.0, 0.60], [1.0, 0.80], [0.0, 0.80]]

[[rules]]
name = "no_fishing"
kind = "fishing"
zones = ["shore"]
dwell_s = {dwell}
recheck_s = 2
clear_after_s = 2
"""


def test_run_turns_detections_into_a_warning_an_alert_and_a_clear(tmp_path):
    model_folder(tmp_path / "model", yolov8_output([PERSON, ROD], 6), CLASSES)
    profile = tmp_path / "node.toml"
    profile.write_text(PROFILE.format(dwell=2))
    state = tmp_path / "state"
    assert run_cli("edge-node", "keys", "init", "--state-dir", str(state)).returncode == 0
    result = run_cli("edge-node", "run", "--config", str(profile), "--state-dir", str(state),
                     "--source", f"sim:{SCENARIOS / 'reservoir_day_angler.toml'}?realtime=0", "--max-frames", "40")
    assert result.returncode == 0, result.stderr
    lines = read_events(state / "lifecycle.jsonl")
    assert [m["stage"] for m in lines] == ["warning", "alert", "cleared"]
    assert len({m["id"] for m in lines}) == 1 and lines[0]["id"].startswith("test-node-no_fishing-2026041")
    warning, alert, cleared = lines
    assert warning["node"] == "test-node" and warning["kind"] == "fishing" and warning["zone"] == "shore"
    assert sorted(o["class"] for o in warning["objects"]) == ["fishing_rod", "person"]
    person = next(o for o in warning["objects"] if o["class"] == "person")
    assert person["box"] == [0.4688, 0.5833, 0.5156, 0.7222]  # relative coordinates
    assert warning["started_at"].startswith("2026-04-10T09:00:0") and warning["started_at"].endswith("+08:00")
    assert alert["confirmed_at"] and cleared["reason"] == "shutdown" and cleared["ended_at"]
    assert alert["snapshot"] == f"{alert['id']}/snapshot_best.jpg" and len(cleared["evidence"]) == 64
    assert "WARNING" in result.stderr and "loudspeaker warning" in result.stderr
    json.dumps(lines)  # plain JSON all the way


def test_a_short_situation_leaves_no_record(tmp_path):
    model_folder(tmp_path / "model", yolov8_output([PERSON, ROD], 6), CLASSES)
    profile = tmp_path / "node.toml"
    profile.write_text(PROFILE.format(dwell=60))
    state = tmp_path / "state"
    assert run_cli("edge-node", "keys", "init", "--state-dir", str(state)).returncode == 0
    result = run_cli("edge-node", "run", "--config", str(profile), "--state-dir", str(state),
                     "--source", f"sim:{SCENARIOS / 'reservoir_day_angler.toml'}?realtime=0", "--max-frames", "20")
    assert result.returncode == 0, result.stderr
    assert read_events(state / "lifecycle.jsonl") == []


def test_a_node_with_a_model_and_no_signing_key_says_what_to_do(tmp_path):
    model_folder(tmp_path / "model", yolov8_output([PERSON, ROD], 6), CLASSES)
    profile = tmp_path / "node.toml"
    profile.write_text(PROFILE.format(dwell=2))
    result = run_cli("edge-node", "run", "--config", str(profile), "--state-dir", str(tmp_path / "state"),
                     "--source", f"sim:{SCENARIOS / 'reservoir_day_angler.toml'}")
    assert result.returncode == 2 and "edge-node keys init --state-dir" in result.stderr


def test_a_torn_last_line_after_a_power_cut_hides_nothing_before_it(tmp_path):
    path = tmp_path / "lifecycle.jsonl"
    path.write_text('{"id": "a", "stage": "warning"}\n{"id": "a", "stage": "alert"}\n{"id": "a", "sta')
    assert [m["stage"] for m in read_events(path)] == ["warning", "alert"]
