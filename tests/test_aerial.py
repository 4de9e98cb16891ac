"""Drone (aerial) scenarios: format and errors, exact geometry, determinism, telemetry and MAVLink."""

from __future__ import annotations

import hashlib
import json
import math
import socket
import threading

import numpy as np
import pytest

from edge.geo import LocalFrame, pixel_to_ground, project
from simulator.aerial.mavlink import BOOT_LEAD_S, GIMBAL_COMPONENT, stream
from simulator.aerial.render import AerialRenderer
from simulator.aerial.view import View, warp_ground
from simulator.aerial.visibility import report
from simulator.cli import main
from simulator.render import Renderer
from simulator.scenario import ScenarioError, load_scenario, parse_scenario, shipped_scenarios

ORIGIN = (29.61, 119.04)
FRAME = LocalFrame(*ORIGIN)
DRONE = shipped_scenarios(aerial=True)
# The three drone scenarios of the drone brief (altitude, pitch, duration); later ones test other things
# (trees over actors, two anglers close together) and keep only the format's own limits.
BRIEF = [p for p in DRONE if p.stem in ("drone_day_bank_angler", "drone_day_boat_loiter", "drone_dusk_bank_survey")]


def ll(e: float, n: float) -> str:
    lat, lon = FRAME.to_latlon(e, n)
    return f"[{lat:.8f}, {lon:.8f}]"


def poly(*pts) -> str:
    return "[" + ", ".join(ll(e, n) for e, n in pts) + "]"


def keys(*rows) -> str:
    """[t, e, n, ...rest] rows with the position turned into lat, lon."""
    return "[" + ", ".join("[" + ", ".join([str(t), ll(e, n)[1:-1], *map(str, rest)]) + "]"
                           for t, e, n, *rest in rows) + "]"


def small(noise: str = "", extra: str = "", flight=None, lighting: str = "day") -> str:
    """A small world: water north of n = 0, a bank strip, a path; a short flight with a turn."""
    flight = flight or keys((0, -25, -20, 40, 0, -70), (8, -5, -12, 40, 45, -80), (16, 5, -5, 42, 90, -90))
    return f"""
[scenario]
name = "small"
site = "reservoir_aerial"
seed = 3
duration_s = 16
fps = 5
start = 2026-04-10T09:00:00+08:00
lighting = "{lighting}"

[world]
origin = [{ORIGIN[0]}, {ORIGIN[1]}]
water = {poly((-60, 0), (60, 0), (60, 70), (-60, 70))}
shore = {poly((-60, -12), (60, -12), (60, 0), (-60, 0))}
path = {poly((-60, -15), (60, -15), (60, -12), (-60, -12))}
clutter = 0.5

[drone]
hfov_deg = 78
path = {flight}
{noise}

[[actors]]
id = "skiff"
kind = "boat"
style = "skiff"
crew = 2
path = {keys((0, -8, 14), (16, 0, 16))}

[[actors]]
id = "angler"
kind = "person"
path = {keys((0, 2, -2))}
rod = [[2, 16]]

[[actors]]
id = "walker"
kind = "person"
path = {keys((0, -30, -13.5), (16, 0, -13.5))}
{extra}
[[truth]]
kind = "boat_intrusion"
zone = "water"
start_s = 0
end_s = 16
actors = ["skiff"]
"""


@pytest.fixture(scope="module")
def renderer() -> AerialRenderer:
    r = Renderer(parse_scenario(small(), "small.toml"))
    assert isinstance(r, AerialRenderer)
    return r


def frame_hash(img: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(img).tobytes()).hexdigest()


# ------------------------------------------------------------------------- format


def test_shipped_drone_scenarios_validate_and_fit_the_brief():
    assert len(BRIEF) == 3 and all(p.stem.startswith("drone_") for p in DRONE)
    assert not set(DRONE) & set(shipped_scenarios()), "fixed-camera listing keeps its own scenarios"
    kinds = set()
    for path in BRIEF:
        sc = load_scenario(path)
        assert path.read_text().startswith("#") and sc.name == path.stem and sc.site == "reservoir_aerial"
        assert 120 <= sc.duration_s <= 180 and sc.fps == 5
        alts = [k[3] for k in sc.drone.path]
        pitches = [k[5] for k in sc.drone.path]
        assert 50 <= min(alts) <= max(alts) <= 70 and -90 <= min(pitches) <= max(pitches) <= -45
        assert len({round(k[4]) for k in sc.drone.path}) >= 3, "the camera turns"
        kinds |= {(t.kind, t.zone) for t in sc.truth}
    assert {("boat_intrusion", "water"), ("fishing", "shore")} <= kinds


@pytest.mark.parametrize(("patch", "field", "words"), [
    (("hfov_deg = 78", "hfov_deg = 78\nzoom = 2"), "drone.zoom", "unknown key"),
    (("kind = \"boat\"\nstyle", "kind = \"boat\"\nstlye = 1\nstyle"), "actors[0].stlye", "did you mean 'style'"),
    (("kind = \"boat\"", "kind = \"ship\""), "actors[0].kind", "unknown kind 'ship' (use one of: person, boat)"),
    (("zone = \"water\"", "zone = \"lake\""), "truth[0].zone", "not a [world] polygon"),
    (("rod = [[2, 16]]", "rod = [[2, 18]]"), "actors[1].rod[0]", "outside the actor's lifetime"),
    (("clutter = 0.5", "clutter = 0.5\nshore2 = 1"), "world.shore2", "did you mean 'shore'"),
])
def test_errors_are_one_line_with_the_field_path(tmp_path, patch, field, words):
    text = small().replace(*patch)
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(ScenarioError) as e:
        load_scenario(p)
    line = next(x for x in e.value.problems if f": {field}: " in x)
    assert line.startswith(f"{p}: {field}: ") and words in line, e.value.problems


def test_flight_and_polygon_errors(tmp_path):
    bad = small(flight="[[0, 29.61, 119.04, 60, 0, -100], [5, 29.61, 119.04, 60, 0, -90]]")
    bad = bad.replace("water = [", "water = [[29.61, 119.04], [29.61, 119.04], [29.61, 119.04]]\nx = [")
    with pytest.raises(ScenarioError) as e:
        parse_scenario(bad, "f.toml")
    text = "\n".join(e.value.problems)
    assert "f.toml: drone.path: keyframe 0: gimbal_pitch_deg -100 is outside -90" in text
    assert "f.toml: world.water: the polygon has no area" in text
    assert "f.toml: world.x: unknown key" in text
    assert main(["check", str(tmp_path / "missing.toml")]) == 2


# ------------------------------------------------------------------------- geometry


def test_ground_warp_is_the_camera_model(renderer):
    """The ground drawn at edge.geo.project(pose, p) is the ground at p: water where the world is water."""
    for i in (0, 35, 79):
        pose = renderer.true_pose(i)
        view = View(pose)
        for e, n in ((5, 2), (0, 0)):  # the homography is the projection
            assert np.allclose(view.uv([(e, n, 0)])[0], project(pose, e, n), atol=1e-6)
        alpha = warp_ground(view, renderer.ortho)[..., 3]
        checked = 0
        for u in range(40, pose.width - 40, 97):
            for v in range(40, pose.height - 40, 61):
                e, n = pixel_to_ground(pose, u + 0.5, v + 0.5)
                if abs(n) > 0.5 and abs(e) < 59.5:  # away from the waterline: exactly water or land
                    assert (alpha[v, u] > 127) == (n > 0), (i, u, v, e, n)
                    checked += 1
        assert checked > 60


def test_labels_contain_each_actors_projected_ground_point(renderer):
    seen = set()
    for i in (0, 20, 40, 60, 79):
        fr = renderer.render(i)
        pose = renderer.true_pose(i)
        boxes = {lab.actor: lab for lab in fr.labels}
        for a in renderer.actors:
            uv = project(pose, *a.ground(fr.t))
            inside = uv is not None and 8 <= uv[0] <= pose.width - 8 and 8 <= uv[1] <= pose.height - 8
            if not inside:
                continue
            lab = boxes.get(a.id)
            assert lab is not None, f"frame {i}: {a.id} in view at {uv} but not labelled"
            x1, y1, x2, y2 = lab.box
            assert x1 - 1 <= uv[0] <= x2 + 1 and y1 - 1 <= uv[1] <= y2 + 1, (i, a.id, uv, lab.box)
            assert lab.cls == ("boat" if a.kind == "boat" else "person")
            seen.add(a.id)
            if a.id == "angler" and fr.t >= 2:
                assert boxes["angler.rod"].cls == "fishing_rod"
            if a.id == "skiff":  # the node locating the box centre lands on the boat
                cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
                assert math.dist(pixel_to_ground(pose, cx, cy), a.ground(fr.t)) < 2.5
    assert seen == {"skiff", "angler", "walker"}
    assert {"skiff.crew1", "skiff.crew2"} & {lab.actor for lab in renderer.render(79).labels}


def test_render_is_deterministic_and_random_access(renderer):
    order = [79, 3, 41]
    first = {i: frame_hash(renderer.render(i).image) for i in order}
    again = Renderer(parse_scenario(small(), "small.toml"))
    assert {i: frame_hash(again.render(i).image) for i in reversed(order)} == first
    assert len(set(first.values())) == 3
    other = Renderer(parse_scenario(small(), "small.toml"), seed=9)
    assert frame_hash(other.render(41).image) != first[41]
    empty = renderer.render(41, actors=False)
    assert empty.labels == [] and empty.image.shape == (720, 1280, 3)
    with pytest.raises(IndexError):
        renderer.render(renderer.n_frames)


def test_night_and_dusk_render(tmp_path):
    for lighting in ("dusk", "night"):
        r = Renderer(parse_scenario(small(lighting=lighting), "small.toml"))
        fr = r.render(40)
        assert {"skiff", "angler.rod"} <= {lab.actor for lab in fr.labels}
        if lighting == "night":
            img = fr.image.astype(int)
            assert np.abs(img[..., 0] - img[..., 2]).mean() < 3, "night IR is grey"


# ------------------------------------------------------------------------- telemetry


def test_telemetry_is_the_true_pose_plus_bounded_smooth_noise():
    quiet = Renderer(parse_scenario(small(noise="[drone.noise]\ngps_sigma_m = 0\naltitude_sigma_m = 0\n"
                                              "heading_sigma_deg = 0\npitch_sigma_deg = 0"), "q.toml"))
    noisy = Renderer(parse_scenario(small(noise="[drone.noise]\ngps_sigma_m = 2\ncorrelation_s = 2"), "n.toml"))
    start = quiet.scenario.start.timestamp()
    errors = []
    for i in range(quiet.n_frames):
        q, s = quiet.telemetry(i), noisy.telemetry(i)
        pose = quiet.true_pose(i)
        assert set(q) == {"t", "wall", "lat", "lon", "altitude_m", "heading_deg", "gimbal_pitch_deg", "hfov_deg"}
        assert q["wall"] == pytest.approx(start + i / 5) and q["hfov_deg"] == 78
        e, n = FRAME.to_enu(q["lat"], q["lon"])
        assert math.dist((e, n), (pose.east, pose.north)) < 0.01
        assert q["altitude_m"] == pytest.approx(pose.altitude) and q["gimbal_pitch_deg"] == pytest.approx(pose.pitch_deg)
        assert abs((q["heading_deg"] - pose.heading_deg + 180) % 360 - 180) < 1e-3
        errors.append(math.dist(FRAME.to_enu(s["lat"], s["lon"]), (pose.east, pose.north)))
    assert 0.3 < np.mean(errors) < 5 and max(errors) < 10
    assert max(abs(a - b) for a, b in zip(errors, errors[1:], strict=False)) < 1.0, "GPS error wanders, not jumps"
    assert noisy.telemetry(17) == noisy.telemetry(17)


def test_cli_render_writes_telemetry_and_world(tmp_path, capsys):
    src = tmp_path / "small.toml"
    src.write_text(small())
    out = tmp_path / "out"
    assert main(["render", str(src), "--out", str(out), "--frames", "10:20", "--every", "2", "--no-video"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["telemetry"] == str(out / "telemetry.jsonl") and summary["objects"]["boat"] == 5
    rows = [json.loads(line) for line in (out / "telemetry.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in rows] == [10, 12, 14, 16, 18]
    r = Renderer(load_scenario(src))
    assert rows[2] == {"frame": 14, **r.telemetry(14), "true": r.true_telemetry(14)}
    truth = json.loads((out / "truth.json").read_text())
    assert set(truth["world"]["zones"]) == {"water", "shore", "path"} and truth["world"]["hfov_deg"] == 78
    assert truth["truth"][0]["zone"] == "water"


def test_mavlink_stream_over_udp_decodes_to_the_scenarios_positions(tmp_path):
    from pymavlink.dialects.v20 import ardupilotmega as mavlink

    src = tmp_path / "small.toml"
    src.write_text(small(noise="[drone.noise]\ngps_sigma_m = 1.5\naltitude_sigma_m = 0.5"))
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(0.2)
    port = rx.getsockname()[1]
    result = {}
    sender = threading.Thread(target=lambda: result.update(stream(src, "127.0.0.1", port, fast=True, rate_hz=5)))
    sender.start()
    parser = mavlink.MAVLink(None)
    msgs = []
    try:
        while True:
            try:
                data = rx.recv(512)
            except TimeoutError:
                if sender.is_alive():
                    continue
                break
            assert data[0] == 0xFD, "MAVLink 2"
            msgs += parser.parse_buffer(data) or []
    finally:
        sender.join()
        rx.close()
    assert len(msgs) == result["datagrams"]
    by = {}
    for m in msgs:
        by.setdefault(m.get_type(), []).append(m)
    assert result["samples"] == len(by["GLOBAL_POSITION_INT"]) == 81
    r = Renderer(load_scenario(src))
    wall0 = r.scenario.start.timestamp()
    st = by["SYSTEM_TIME"][0]
    assert st.time_unix_usec / 1e6 - st.time_boot_ms / 1e3 == pytest.approx(wall0 - BOOT_LEAD_S, abs=1e-3)
    assert len(by["HEARTBEAT"]) == len(by["SYSTEM_TIME"]) == 17
    for gp, mo, gd, att in zip(by["GLOBAL_POSITION_INT"], by["MOUNT_ORIENTATION"],
                               by["GIMBAL_DEVICE_ATTITUDE_STATUS"], by["ATTITUDE"], strict=True):
        t = gp.time_boot_ms / 1000 - BOOT_LEAD_S
        true = r.pose_at(t)
        sample = r.telemetry_at(t)
        e, n = FRAME.to_enu(gp.lat / 1e7, gp.lon / 1e7)
        assert math.dist((e, n), (true.east, true.north)) < 6 * 1.5  # the true position, within the noise
        assert (gp.lat, gp.lon) == (round(sample["lat"] * 1e7), round(sample["lon"] * 1e7))
        assert abs(gp.relative_alt / 1000 - true.altitude) < 6 * 0.5 and gp.alt == gp.relative_alt
        assert gp.hdg == round(sample["heading_deg"] * 100) % 36000
        assert mo.pitch == pytest.approx(sample["gimbal_pitch_deg"], abs=1e-3) and mo.get_srcComponent() == GIMBAL_COMPONENT
        w, x, y, z = gd.q
        pitch = math.degrees(math.asin(max(-1.0, min(1.0, 2 * (w * y - z * x)))))  # float32: coarse near -90
        assert pitch == pytest.approx(sample["gimbal_pitch_deg"], abs=0.05)
        assert math.degrees(att.yaw) % 360 == pytest.approx(sample["heading_deg"], abs=1e-3)


def test_cli_mavlink_jsonl_and_bad_arguments(tmp_path, capsys):
    src = tmp_path / "small.toml"
    src.write_text(small())
    out = tmp_path / "tele.jsonl"
    assert main(["mavlink", str(src), "--jsonl", str(out), "--fast", "--rate", "2", "--start-wall", "1000"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 33 and rows[4]["t"] == 2.0 and rows[4]["wall"] == 1002.0
    capsys.readouterr()
    assert main(["mavlink", str(src), "--udp", "nowhere", "--fast"]) == 2
    assert "--udp: expected HOST:PORT" in capsys.readouterr().err
    assert main(["mavlink", str(src)]) == 2
    assert main(["mavlink", "reservoir_day_angler", "--jsonl", str(out)]) == 2
    assert "not a drone scenario" in capsys.readouterr().err


# ------------------------------------------------------------------------- shipped scenarios, node source


def test_shipped_truth_is_in_view_and_violating():
    """Each truth interval is when the offender is in the frame and violating (docs); a fixed frame of
    the middle shows it labelled (the rod for fishing)."""
    for path in DRONE:
        sc = load_scenario(path)
        r = Renderer(sc)
        rep = report(r)
        hidden = bool(sc.world.trees)  # trees drawn over actors: seen for part of their time in frame
        for tr in sc.truth:
            for aid in tr.actors:
                spans = rep["actors"][aid][f"{tr.kind}@{tr.zone}"]
                if hidden:  # the truth is when the offender can be seen: inside its time in the frame
                    assert any(a - 0.5 <= tr.start_s < tr.end_s <= b + 0.5 for a, b in spans), (path.name, spans)
                else:
                    assert any(abs(a - tr.start_s) <= 0.5 and abs(b - tr.end_s) <= 0.5 for a, b in spans), \
                        (path.name, spans)
        # look-alikes: no other actor violates for long while in view
        for aid, row in rep["actors"].items():
            if any(aid in tr.actors for tr in sc.truth):
                continue
            for key, spans in row.items():
                if "@" in key:
                    assert all(b - a < 25 for a, b in spans), (path.name, aid, key, spans)


@pytest.mark.parametrize("path", DRONE, ids=[p.stem for p in DRONE])
def test_shipped_truth_middle_is_labelled(path):
    sc = load_scenario(path)
    r = Renderer(sc)
    for tr in sc.truth:
        fr = r.render(int((tr.start_s + tr.end_s) / 2 * sc.fps))
        labelled = {lab.actor for lab in fr.labels}
        for aid in tr.actors:
            assert (f"{aid}.rod" if tr.kind == "fishing" else aid) in labelled, (path.name, tr)


def test_sim_source_serves_drone_frames_on_the_scenario_clock(tmp_path):
    from edge.capture import open_source

    src = tmp_path / "small.toml"
    src.write_text(small())
    r = Renderer(load_scenario(src))
    with open_source(f"sim:{src}?realtime=0") as source:
        frames = [source.read(timeout=30) for _ in range(3)]
    assert np.array_equal(frames[2].image, r.render(2).image)
    assert frames[2].wall == pytest.approx(r.telemetry(2)["wall"])


def test_score_feeds_the_drone_telemetry_to_a_geofencing_node(tmp_path):
    """`edge-sim score --oracle` on a drone scenario: the node locates the boxes with the scenario's noisy
    telemetry and its geofences (the [world] polygons); the loitering skiff alerts, nothing else does."""
    from simulator.score import run_scenario

    src = tmp_path / "small.toml"
    src.write_text(small(noise="[drone.noise]\ngps_sigma_m = 1.0"))
    zones = load_scenario(src).world_document()["zones"]

    def geo(name: str, classes: str) -> str:
        return (f'[[zones]]\nname = "{name}"\ngeo_polygon = {json.dumps(zones[name])}\nclasses = {classes}\n')

    profile = tmp_path / "drone.toml"
    profile.write_text(f"""
[node]
id = "drone-t"
kind = "drone"
site = "test"
timezone = "Asia/Shanghai"

[capture]
source = "rtsp://127.0.0.1:8554/none"

[detect]
classes = ["person", "fishing_rod", "boat"]
motion = {{ enabled = false }}

[telemetry]
source = "sim"
hfov_deg = 78

{geo("water", '["boat"]')}
{geo("shore", '["person", "fishing_rod"]')}
[[rules]]
name = "restricted_water"
kind = "boat_intrusion"
zones = ["water"]
dwell_s = 2
recheck_s = 3
""")
    row = run_scenario(str(src), str(profile), True, 1)
    assert row["matched"] == row["expected"] == 1 and row["false_alerts"] == 0, row
