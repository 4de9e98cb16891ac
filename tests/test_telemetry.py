"""Drone telemetry in: MAVLink over UDP and JSON lines, aligned with frames by their wall time."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from edge.config import ConfigError, load_profile
from edge.telemetry import Pose, PoseTrack, open_telemetry
from simulator.aerial.mavlink import stream
from simulator.render import Renderer
from simulator.scenario import load_scenario, shipped_scenarios

from .conftest import free_port

SCENARIO = next(p for p in shipped_scenarios(aerial=True) if p.stem == "drone_dusk_bank_survey")


def wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_pose_track_interpolates_between_samples_and_refuses_stale_ones():
    track = PoseTrack()
    track.add(Pose(100.0, 29.0, 119.0, 60.0, 350.0, -60.0))
    track.add(Pose(101.0, 29.001, 119.002, 62.0, 10.0, -40.0))
    mid = track.at(100.5, max_age_s=1.0)
    assert (mid.lat, mid.lon, mid.altitude_m, mid.pitch_deg) == pytest.approx((29.0005, 119.001, 61.0, -50.0))
    assert mid.heading_deg == pytest.approx(0.0, abs=1e-9) or mid.heading_deg == pytest.approx(360.0)  # short way
    assert track.at(101.4, max_age_s=0.5).lat == 29.001  # just after the newest: the newest
    assert track.at(102.0, max_age_s=0.5) is None  # telemetry stopped: no pose rather than an old one
    assert track.at(99.0, max_age_s=0.5) is None
    track.add(Pose(110.0, 29.01, 119.0, 60.0, 0.0, -90.0))  # a gap: interpolating across it would be a guess
    assert track.at(105.0, max_age_s=1.0) is None
    assert track.at(109.6, max_age_s=1.0).lat == 29.01


def _udp_address() -> tuple[str, int]:
    return "127.0.0.1", free_port(socket.SOCK_DGRAM)


def test_mavlink_stream_fills_the_pose_track_on_the_frames_clock():
    """The simulator's MAVLink 2 stream (what a flight controller sends) decodes to the scenario's own
    telemetry, stamped with the Unix time SYSTEM_TIME gives, so frame walls find their poses."""
    host, port = _udp_address()
    track = PoseTrack(keep_s=1000)
    reader = open_telemetry(f"mavlink:udpin:{host}:{port}", track)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # garbage first: skipped, not fatal
            s.sendto(b"\xfd\x09not mavlink at all", (host, port))
        summary = stream(SCENARIO, host, port, fast=True, rate_hz=2)
        assert wait_for(lambda: track.received >= summary["samples"]), (track.received, summary)
    finally:
        reader.stop()
    r = Renderer(load_scenario(SCENARIO))
    wall0 = r.scenario.start.timestamp()
    for t in (0.0, 12.5, 40.0, 77.5, 149.0):
        want = r.telemetry_at(t)
        got = track.at(wall0 + t, max_age_s=0.6)
        assert got is not None, t
        assert got.wall == pytest.approx(wall0 + t, abs=1e-3)
        assert (got.lat, got.lon) == pytest.approx((want["lat"], want["lon"]), abs=2e-7)
        assert got.altitude_m == pytest.approx(want["altitude_m"], abs=2e-3)
        assert got.heading_deg == pytest.approx(want["heading_deg"], abs=0.02)
        assert got.pitch_deg == pytest.approx(want["gimbal_pitch_deg"], abs=0.1)


def test_jsonl_telemetry_is_followed_as_it_grows_and_skips_bad_lines(tmp_path):
    path = tmp_path / "tele.jsonl"
    track = PoseTrack(keep_s=1000)
    reader = open_telemetry(f"jsonl:{path.name}", track, base_dir=tmp_path)  # relative to the profile
    try:
        time.sleep(0.2)  # the file does not exist yet: the reader waits for it
        sample = {"wall": 1000.0, "lat": 29.61, "lon": 119.04, "altitude_m": 60, "heading_deg": 90,
                  "gimbal_pitch_deg": -70}
        with open(path, "w") as f:
            f.write(json.dumps(sample) + "\n")
            f.write("{not json}\n")
            f.write(json.dumps({"wall": 1001.0, "lat": 29.61}) + "\n")  # no longitude: not a pose
            f.write(json.dumps({**sample, "wall": 1002.0})[:20])  # a line still being written
            f.flush()
            assert wait_for(lambda: track.received == 1)
            time.sleep(0.3)
            assert track.received == 1
            f.write(json.dumps({**sample, "wall": 1002.0})[20:] + "\n")
            f.flush()
            assert wait_for(lambda: track.received == 2)
    finally:
        reader.stop()
    pose = track.at(1001.0, max_age_s=1.5)
    assert (pose.heading_deg, pose.pitch_deg, pose.altitude_m) == (90.0, -70.0, 60.0)


def test_mavlink_address_errors_are_clear():
    with pytest.raises(Exception, match="nonsense"):
        open_telemetry("mavlink:nonsense:xyz", PoseTrack()).stop()


DRONE = """
[node]
id = "d1"
kind = "drone"
site = "test"
timezone = "Asia/Shanghai"
[capture]
source = "rtsp://127.0.0.1:8554/x"
[detect]
classes = ["person", "boat"]
{detect}
{telemetry}
[[zones]]
name = "water"
{shape}
[[rules]]
name = "r"
kind = "boat_intrusion"
zones = ["water"]
"""
GEO = "geo_polygon = [[29.61, 119.04], [29.611, 119.04], [29.611, 119.041]]"
TELEMETRY = '[telemetry]\nsource = "sim"'
NO_GATE = "motion = { enabled = false }"


@pytest.mark.parametrize(("detect", "telemetry", "shape", "error"), [
    (NO_GATE, "", GEO, "telemetry: geofences (geo_polygon) need a [telemetry] section"),
    ("", TELEMETRY, GEO, "detect.motion.enabled: a moving camera"),
    (NO_GATE, TELEMETRY, GEO + "\npolygon = [[0, 0], [1, 0], [1, 1]]", "one of them"),
    (NO_GATE, TELEMETRY, "geo_polygon = [[29.61, 119.04], [129.0, 119.0], [29.6, 119.1]]", "[lat, lon]"),
    (NO_GATE, TELEMETRY.replace("sim", "serial:/dev/ttyS0"), GEO, "telemetry.source"),
])
def test_drone_profile_errors_name_the_field(tmp_path, detect, telemetry, shape, error):
    path = tmp_path / "drone.toml"
    path.write_text(DRONE.format(detect=detect, telemetry=telemetry, shape=shape))
    with pytest.raises(ConfigError) as exc:
        load_profile(path)
    assert error in "\n".join(exc.value.lines())


def test_a_good_drone_profile_loads(tmp_path):
    path = tmp_path / "drone.toml"
    path.write_text(DRONE.format(detect=NO_GATE, telemetry=TELEMETRY, shape=GEO))
    profile = load_profile(path)
    assert profile.telemetry.source == "sim" and profile.zones[0].geo_polygon[1] == (29.611, 119.04)


def test_reader_threads_stop(tmp_path):
    before = threading.active_count()
    reader = open_telemetry(f"jsonl:{tmp_path / 'x.jsonl'}", PoseTrack())
    reader.stop()
    host, port = _udp_address()
    open_telemetry(f"mavlink:udpin:{host}:{port}", PoseTrack()).stop()
    assert wait_for(lambda: threading.active_count() <= before, 5)
