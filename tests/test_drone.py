"""A drone node: geofenced rules on ground positions, located alerts, scored on the drone scenarios."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from edge.config import load_profile
from edge.geo import GroundPoint, LocalFrame, Locator, haversine_m
from edge.rules import RuleEngine, read_events
from edge.telemetry import Pose
from edge.track import Track
from edge.track.kalman import BoxKalman
from simulator.render import Renderer
from simulator.scenario import load_scenario, shipped_scenarios

from .conftest import REPO, run_cli
from .onnx_models import model_folder, yolov8_output
from .schemas import assert_valid

DRONE = {p.stem: p for p in shipped_scenarios(aerial=True)}
FRAME = LocalFrame(29.61, 119.04)


def square(east: float, north: float, half: float) -> str:
    corners = [FRAME.to_latlon(east + dx * half, north + dy * half) for dx, dy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    return json.dumps([[round(lat, 7), round(lon, 7)] for lat, lon in corners])


PROFILE = """
[node]
id = "drone-t"
kind = "drone"
timezone = "Asia/Shanghai"

[capture]
source = "rtsp://127.0.0.1:8554/none"

[link]
enabled = false

[detect]
model = "model"
classes = ["person", "boat"]
motion = {{ enabled = false }}

[telemetry]
source = "{telemetry}"
hfov_deg = 78

[[zones]]
name = "water"
geo_polygon = {water}
classes = ["boat"]

[[zones]]
name = "far"
geo_polygon = {far}
classes = ["boat"]

[[rules]]
name = "restricted_water"
kind = "boat_intrusion"
zones = ["water", "far"]
dwell_s = 2
recheck_s = 3
clear_after_s = 2
"""


def track(tid: int, box, now: float) -> Track:
    t = Track(tid, "boat", 0.9, now - 5, now, hits=10, kalman=BoxKalman(np.array(box, float)))
    return t


def ground(east: float, north: float) -> GroundPoint:
    lat, lon = FRAME.to_latlon(east, north)
    return GroundPoint(east, north, lat, lon, 3.0)


def test_a_boat_seen_again_from_elsewhere_is_the_same_violation(tmp_path):
    """The tracker loses a boat while the drone turns; the new track, somewhere else in the picture
    but at the same place on the ground, continues the violation; a boat 60 m away starts its own."""
    path = tmp_path / "d.toml"
    path.write_text(PROFILE.format(telemetry="sim", water=square(0, 0, 200), far=square(5000, 0, 50)))
    engine = RuleEngine(load_profile(path, check_files=False))
    wall0 = 1_776_000_000.0
    events = []
    for i in range(10):  # track 1, steady at (10, 20) on the ground: warned, not yet confirmed
        now = i * 0.2
        events += engine.update([track(1, (600, 300, 680, 340), now)], now, wall0 + now, (1280, 720),
                                {1: (ground(10, 20), ground(10, 20))})
    first = {v.id for v in engine.open}
    assert len(first) == 1
    for i in range(10, 40):  # lost; track 7 far across the picture, 1.5 m away on the ground
        now = i * 0.2
        events += engine.update([track(7, (100, 600, 180, 640), now)], now, wall0 + now, (1280, 720),
                                {7: (ground(11, 21), ground(11, 21))})
    assert {v.id for v in engine.open} == first
    assert [e.stage for e in events] == ["warning", "alert"]
    alert = events[-1].message
    assert alert["location"]["uncertainty_m"] == 3.0
    assert haversine_m(alert["location"]["lat"], alert["location"]["lon"], *FRAME.to_latlon(11, 21)) < 0.1
    for i in range(40, 45):  # a third track, at the same spot in the picture but 60 m away
        now = i * 0.2
        engine.update([track(9, (100, 600, 180, 640), now)], now, wall0 + now, (1280, 720),
                      {9: (ground(71, 21), ground(71, 21))})
    assert len({v.id for v in engine.open}) == 2


def test_no_pose_means_no_geofence_decision():
    """Frames without telemetry leave membership as it was: no zone is entered on a guess."""
    path_profile = REPO / "firmware_config" / "drone.toml"
    engine = RuleEngine(load_profile(path_profile))
    wall0 = 1_776_000_000.0
    for i in range(200):
        now = i * 0.2
        assert engine.update([track(1, (600, 300, 680, 340), now)], now, wall0 + now, (1280, 720), None) == []
    assert engine.open == []


def run_boat_drone(tmp_path, telemetry: str, frames: int):
    """edge-node run on drone_day_boat_loiter with a model that sees a boat 160 x 80 px in the middle of
    every frame (its bottom centre is pixel (640, 400)), the water zone around the origin.
    Returns (profile path, state dir, completed process)."""
    scenario = DRONE["drone_day_boat_loiter"]
    model_folder(tmp_path / "model", yolov8_output([(160.0, 160.0, 40.0, 20.0, 1, 0.9)], 2), ["person", "boat"])
    profile = tmp_path / "drone.toml"
    profile.write_text(PROFILE.format(telemetry=telemetry, water=square(0, 0, 2000), far=square(5000, 0, 50)))
    state = tmp_path / "state"
    assert run_cli("edge-node", "keys", "init", "--state-dir", str(state)).returncode == 0
    result = run_cli("edge-node", "run", "--config", str(profile), "--state-dir", str(state),
                     "--source", f"sim:{scenario}?realtime=0", "--max-frames", str(frames), timeout=120)
    return profile, state, result


def test_edge_node_run_alerts_with_the_location_of_the_box(tmp_path):
    """edge-node run on a drone scenario with JSON-lines telemetry: the alert carries the ground
    position of the detected box at the drone's pose, with its uncertainty, in the alert schema."""
    scenario = DRONE["drone_day_boat_loiter"]
    sc = load_scenario(scenario)
    telemetry = tmp_path / "telemetry.jsonl"
    assert run_cli("edge-sim", "mavlink", str(scenario), "--jsonl", str(telemetry), "--fast",
                   "--rate", "5").returncode == 0
    _, state, result = run_boat_drone(tmp_path, "jsonl:telemetry.jsonl", 60)
    assert result.returncode == 0, result.stderr
    events = read_events(state / "lifecycle.jsonl")
    alerts = [m for m in events if m["stage"] == "alert"]
    assert len(alerts) == 1 and alerts[0]["zone"] == "water", events
    alert = assert_valid("alert", alerts[0])
    from datetime import datetime

    index = round((datetime.fromisoformat(alert["confirmed_at"]).timestamp() - sc.start.timestamp()) * sc.fps)
    sample = Renderer(sc).telemetry(index)
    locator = Locator(LocalFrame(*json.loads(square(0, 0, 2000))[0]), 78.0)
    want = locator.locate(locator.camera(Pose.from_sample(sample), (1280, 720)), 640, 400)
    loc = alert["location"]
    assert haversine_m(loc["lat"], loc["lon"], want.lat, want.lon) < 2.0
    assert loc["uncertainty_m"] == pytest.approx(want.uncertainty_m, abs=0.3)
    assert 2 < loc["uncertainty_m"] < 15


def test_edge_node_run_without_telemetry_says_so(tmp_path):
    profile, state, result = run_boat_drone(tmp_path, "jsonl:missing.jsonl", 40)
    assert result.returncode == 0, result.stderr
    assert "no camera pose" in result.stderr and read_events(state / "lifecycle.jsonl") == []
    # sim telemetry needs a drone scenario behind a sim: source
    bad = tmp_path / "bad.toml"
    bad.write_text(profile.read_text().replace("jsonl:missing.jsonl", "sim"))
    result = run_cli("edge-node", "run", "--config", str(bad), "--state-dir", str(state),
                     "--source", f"sim:{REPO / 'simulator/scenarios/reservoir_day_angler.toml'}?realtime=0",
                     "--max-frames", "5", timeout=120)
    assert result.returncode == 2 and "needs a sim: source of a drone scenario" in result.stderr


def test_score_reports_the_location_error_of_drone_alerts(tmp_path):
    """`edge-sim score` on a drone scenario with the shipped drone profile (oracle detections): the
    angler is alerted once although the drone turns through straight down, and the alert's location
    is within 10 m of where he stands (the target at 60 m)."""
    out = tmp_path / "score.json"
    result = run_cli("edge-sim", "score", "--oracle", "--workers", "1", "--out", str(out),
                     str(DRONE["drone_dusk_bank_survey"]), timeout=300)
    assert result.returncode == 0, result.stderr
    summary = json.loads(out.read_text())
    assert summary["matched"] == summary["expected"] == 1 and summary["false_alerts"] == 0, summary
    assert summary["location_error_p50_m"] is not None and summary["location_error_p50_m"] <= 10
    row = summary["scenarios"][0]["truth"][0]
    assert row["location_error_m"] <= row["uncertainty_m"] * 3
    assert math.isfinite(summary["location_within_uncertainty"])


def test_tiles_cover_the_picture_at_the_model_scale_and_the_ground_check_drops_giants():
    import numpy as np

    from edge.detect.detections import Detections
    from edge.detect.tiles import plausible, tile_regions
    from edge.geo import CameraPose

    tiles = tile_regions((1280, 720), 320, 0.2)
    assert all(x2 - x1 == 320 and y2 - y1 == 320 for x1, y1, x2, y2 in tiles)
    covered = np.zeros((720, 1280), bool)
    for x1, y1, x2, y2 in tiles:
        covered[y1:y2, x1:x2] = True
    assert covered.all() and len(tiles) == 15
    # 50 m up, looking straight down: about 7 cm a pixel.  A 30 px rod is 2 m; a 200 px "rod" 14 m.
    camera = CameraPose(0.0, 0.0, 50.0, 0.0, -90.0, 78.0, 1280, 720)
    classes = ("person", "fishing_rod", "boat")
    d = Detections(np.array([[600, 300, 630, 320], [100, 100, 300, 250], [700, 400, 709, 416], [800, 300, 845, 400]],
                            np.float32), np.full(4, 0.8, np.float32), np.array([1, 1, 0, 0], np.int32), classes)
    kept = plausible(d, camera)
    assert kept.boxes.tolist() == [[600, 300, 630, 320], [700, 400, 709, 416]]
    assert plausible(d, None) is d  # no pose: nothing known about sizes
