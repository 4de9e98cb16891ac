"""Simulator: scenarios validate, renders are deterministic, labels match pixels, CLI outputs are usable."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from simulator import CLASSES
from simulator.cli import main
from simulator.render import Renderer
from simulator.scenario import ScenarioError, load_scenario, parse_scenario, shipped_scenarios
from simulator.sites import get_site

SHIPPED = shipped_scenarios()
ERROR_LINE = re.compile(r"^(?P<file>[^:]+\.toml): (?P<field>[^:]+): (?P<msg>.+)$")

HEADER = """
[scenario]
name = "t"
site = "reservoir"
seed = 5
duration_s = 20
start = 2026-04-10T09:00:00+08:00
"""


def frame_hash(img: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(img).tobytes()).hexdigest()


# ------------------------------------------------------------------------- scenarios


def test_shipped_scenarios_validate_and_cover_the_brief():
    assert len(SHIPPED) >= 10
    scenarios = [load_scenario(p) for p in SHIPPED]
    assert {s.site for s in scenarios} == {"reservoir", "market"}
    assert {s.lighting for s in scenarios} == {"day", "dusk", "night"}
    assert any(s.truth for s in scenarios) and any(not s.truth for s in scenarios)
    kinds = {t.kind for s in scenarios for t in s.truth}
    assert {"fishing", "boat_intrusion", "stall", "parking"} <= kinds
    for path, sc in zip(SHIPPED, scenarios, strict=True):
        assert path.read_text().startswith("#"), f"{path.name} must start with a comment"
        assert sc.name == path.stem
        assert 120 <= sc.duration_s <= 240
        assert sc.start.utcoffset() is not None
        assert sc.n_frames == round(sc.duration_s * sc.fps)


def test_region_polygons_are_the_contract():
    res, mkt = get_site("reservoir").regions, get_site("market").regions
    assert res["water"] == [(0, 0.30), (1, 0.30), (1, 0.60), (0, 0.60)]
    assert res["shore"] == [(0, 0.60), (1, 0.60), (1, 0.80), (0, 0.80)]
    assert res["path"] == [(0, 0.80), (1, 0.80), (1, 0.92), (0, 0.92)]
    assert mkt["far_sidewalk"] == [(0, 0.38), (1, 0.38), (1, 0.48), (0, 0.48)]
    assert mkt["fire_lane"] == [(0, 0.48), (1, 0.48), (1, 0.56), (0, 0.56)]
    assert mkt["road"] == [(0, 0.48), (1, 0.48), (1, 0.80), (0, 0.80)]
    assert mkt["parking_bays"] == [(0.05, 0.72), (0.45, 0.72), (0.45, 0.80), (0.05, 0.80)]
    assert mkt["near_sidewalk"] == [(0, 0.80), (1, 0.80), (1, 1), (0, 1)]
    assert mkt["market_area"] == [(0.60, 0.38), (1, 0.38), (1, 0.48), (0.60, 0.48)]
    # perspective: further up the image is further away and smaller
    for site in (get_site("reservoir"), get_site("market")):
        assert site.person_px(0.5, 720) < site.person_px(0.7, 720) < site.person_px(0.95, 720)


@pytest.mark.parametrize("body, field, words", [
    ('[[actors]]\nid = "a"\nkind = "person"\npath = [[0, 0.5, 0.7]]\ncolour = "red"\n', "actors[0].colour",
     "unknown key"),
    ('[[actors]]\nid = "a"\nkind = "person"\npath = [[0, 0.5, 0.7]]\n[[actors]]\nid = "b"\nkind = "boat"\n'
     '[[actors]]\nid = "c"\nkind = "person"\npath = []\n', "actors[2].path", "needs at least 1 keyframe"),
    ('[[actors]]\nid = "a"\nkind = "person"\npath = [[5, 0.5, 0.7], [3, 0.6, 0.7]]\n', "actors[0].path",
     "keyframe times must increase"),
    ('[[actors]]\nid = "a"\nkind = "person"\npath = [[0, 0.5, 0.7]]\n[[truth]]\nkind = "fishing"\nzone = "shore"\n'
     'start_s = 1\nend_s = 5\nactors = ["ghost"]\n', "truth[0].actors[0]", "unknown actor 'ghost'"),
    ('[[truth]]\nkind = "fishing"\nzone = "fire_lane"\nstart_s = 8\nend_s = 5\nactors = ["x"]\n', "truth[0].zone",
     "not a zone of site reservoir"),
    ('[[actors]]\nid = "a"\nkind = "dragon"\npath = [[0, 0.5, 0.7]]\n', "actors[0].kind", "unknown kind 'dragon'"),
    ('[[actors]]\nid = "a"\nkind = "person"\npath = [[0, 0.5, 0.7]]\n[[actors]]\nid = "a"\nkind = "boat"\n'
     'path = [[0, 0.5, 0.4]]\n', "actors[1].id", "duplicate id"),
])
def test_malformed_scenarios_give_one_line_errors(tmp_path, body, field, words):
    p = tmp_path / "x.toml"
    p.write_text(HEADER + body)
    with pytest.raises(ScenarioError) as e:
        load_scenario(p)
    lines = str(e.value).splitlines()
    assert lines == e.value.problems
    for line in lines:
        assert ERROR_LINE.match(line), line
        assert line.startswith(f"{p}: ")
    hits = [m for m in map(ERROR_LINE.match, lines) if m and m["field"] == field]
    assert hits and any(words in m["msg"] for m in hits), lines


def test_meta_errors_and_toml_syntax(tmp_path):
    bad = HEADER.replace('site = "reservoir"', 'site = "lake"').replace("duration_s = 20", "duration_s = 20\n"
                                                                                           "size = [641, 480]")
    with pytest.raises(ScenarioError) as e:
        parse_scenario(bad, "m.toml")
    text = str(e.value)
    assert "m.toml: scenario.site: " in text and "'lake'" in text
    assert "m.toml: scenario.size: " in text and "even" in text
    with pytest.raises(ScenarioError) as e:
        parse_scenario(HEADER + "[[actors]\n", "s.toml")
    assert re.match(r"^s\.toml: line \d+, column \d+: invalid TOML: ", str(e.value))
    naive = HEADER.replace("+08:00", "")
    with pytest.raises(ScenarioError, match=r"scenario\.start: needs a UTC offset"):
        parse_scenario(naive, "n.toml")


def test_check_command(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(HEADER + '[[actors]]\nid = "a"\nkind = "person"\npath = [[0, 0.5, 0.7]]\nspeed = 3\n')
    assert main(["check", str(SHIPPED[0]), str(bad)]) == 2
    out, err = capsys.readouterr()
    assert f"{SHIPPED[0]}: ok" in out
    assert err.strip() == f"{bad}: actors[0].speed: unknown key"
    assert main(["check", str(SHIPPED[0])]) == 0
    assert main(["render", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------------- rendering


def test_render_is_deterministic_and_random_access():
    sc = load_scenario("reservoir_day_angler")
    frames = [0, 170, 333, 50, 899]
    a = Renderer(sc)
    first = {i: frame_hash(a.render(i).image) for i in frames}
    b = Renderer(load_scenario("reservoir_day_angler"))
    second = {i: frame_hash(b.render(i).image) for i in reversed(frames)}
    assert first == second
    assert first[0] != first[50]
    again = a.render(333)
    assert frame_hash(again.image) == first[333]
    assert again.labels == b.render(333).labels
    other = Renderer(sc, seed=sc.seed + 1)
    assert frame_hash(other.render(170).image) != first[170]


def test_render_is_the_same_in_another_process():
    """No Python hash() randomisation or other per-process state leaks into the pixels."""
    code = ("import hashlib; from simulator.render import Renderer; from simulator.scenario import load_scenario;"
            "r = Renderer(load_scenario('market_day_stall_sidewalk')); "
            "print(hashlib.sha256(r.render(400).image.tobytes()).hexdigest())")
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    local = frame_hash(Renderer(load_scenario("market_day_stall_sidewalk")).render(400).image)
    assert out.stdout.strip() == local


def test_frame_api_shape():
    r = Renderer(load_scenario("market_night_stall_and_traffic"))
    assert r.size == (1280, 720) and r.fps == 5 and r.n_frames == 1200
    fr = r.render(600)
    assert fr.index == 600 and fr.t == pytest.approx(120.0)
    assert fr.image.shape == (720, 1280, 3) and fr.image.dtype == np.uint8
    # night is an IR camera: greyscale
    assert np.array_equal(fr.image[..., 0], fr.image[..., 1]) and np.array_equal(fr.image[..., 1], fr.image[..., 2])
    with pytest.raises(IndexError):
        r.render(1200)


@pytest.mark.parametrize("name, times", [
    ("reservoir_day_busy_mixed", (31, 60, 100, 165)),
    ("market_dusk_busy_mixed", (12, 60, 125, 190)),
    ("reservoir_night_boat_loiter", (70, 120)),
    ("market_day_delivery_cart", (20, 40, 66)),
])
def test_labels_match_what_is_drawn(name, times):
    sc = load_scenario(name)
    r = Renderer(sc)
    w, h = r.size
    seen = set()
    for t in times:
        i = int(t * sc.fps)
        fr, empty = r.render(i), r.render(i, actors=False)
        assert fr.labels, f"{name} t={t}: no labels"
        diff = np.abs(fr.image.astype(np.int16) - empty.image.astype(np.int16)).max(axis=2)
        for lab in fr.labels:
            seen.add(lab.cls)
            assert lab.cls in CLASSES
            x1, y1, x2, y2 = lab.box
            assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h, lab
            assert all(float(v).is_integer() for v in lab.box)
            x1, y1, x2, y2 = (int(v) for v in lab.box)
            inside = diff[y1:y2, x1:x2]
            if lab.cls in ("person", "vehicle", "boat", "stall", "cart"):
                assert (inside > 10).mean() > 0.2, f"{name} t={t}: {lab} is mostly background"
            # tight: every edge row and column of the box touches drawn pixels
            for edge in (inside[0], inside[-1], inside[:, 0], inside[:, -1]):
                assert edge.max() > 0, f"{name} t={t}: {lab} is not tight"
        assert not empty.labels
    assert "person" in seen


MOVERS = HEADER.replace('site = "reservoir"', 'site = "market"').replace("duration_s = 20", "duration_s = 30") + """
[[actors]]
id = "walker"
kind = "person"
path = [[0, 0.05, 0.9], [30, 0.95, 0.9]]
[[actors]]
id = "car"
kind = "vehicle"
path = [[0, 0.9, 0.63], [30, 0.1, 0.63]]
[[actors]]
id = "cart"
kind = "cart"
path = [[0, 0.1, 0.72], [30, 0.9, 0.72]]
[[actors]]
id = "far"
kind = "person"
path = [[0, 0.95, 0.42], [30, 0.05, 0.42]]
[[actors]]
id = "stall"
kind = "stall"
path = [[0, 0.3, 0.97]]
setup_s = 10
"""


def test_every_actor_in_view_has_a_label():
    sc = parse_scenario(MOVERS, "movers.toml")
    r = Renderer(sc)
    for t in (2, 15, 22, 28):  # times when nothing stands between the camera and a mover
        fr = r.render(int(t * sc.fps))
        by_actor = {lab.actor: lab for lab in fr.labels}
        for actor in ("walker", "car", "cart", "far", "cart.rider"):
            assert actor in by_actor, f"t={t}: no label for {actor}: {sorted(by_actor)}"
        assert by_actor["walker"].cls == "person" and by_actor["car"].cls == "vehicle"
        assert by_actor["cart"].cls == "cart" and by_actor["cart.rider"].cls == "person"
        # the label is where the path says the actor is
        for actor in ("walker", "car", "far"):
            a = r.actors[[s.id for s in sc.actors].index(actor)]
            px, py = a.path.at(fr.t)
            x1, y1, x2, y2 = by_actor[actor].box
            assert x1 - 4 <= px * r.size[0] <= x2 + 4 and abs(py * r.size[1] - y2) < 12, (actor, t)
        # the stall counts once its table stands (20% of setup_s)
        assert ("stall" in by_actor) == (t >= 2.0)


def test_truth_intervals_agree_with_the_rendering():
    """Mid-interval, the offending object is labelled: a rod for fishing, the actor otherwise."""
    for path in SHIPPED:
        sc = load_scenario(path)
        r = None
        for tr in sc.truth:
            r = r or Renderer(sc)
            fr = r.render(int((tr.start_s + tr.end_s) / 2 * sc.fps))
            actors = {lab.actor for lab in fr.labels}
            for a in tr.actors:
                want = f"{a}.rod" if tr.kind == "fishing" else a
                assert want in actors, f"{path.name}: {want} not labelled at the middle of {tr}"


def test_rod_is_visible_at_detector_scale():
    import cv2

    sc = load_scenario("reservoir_day_angler")
    r = Renderer(sc)
    fr = r.render(90 * 5)
    rod = next(lab for lab in fr.labels if lab.cls == "fishing_rod")
    x1, y1, x2, y2 = (int(v) for v in rod.box)
    assert (x2 - x1) >= 60 and (y2 - y1) >= 60  # long: 1.5-2x the person's height
    small = cv2.resize(fr.image, (320, 180), interpolation=cv2.INTER_AREA)
    bg = cv2.resize(r.render(90 * 5, actors=False).image, (320, 180), interpolation=cv2.INTER_AREA)
    d = np.abs(small.astype(int) - bg.astype(int)).max(axis=2)[y1 // 4: y2 // 4 + 1, x1 // 4: x2 // 4 + 1]
    assert (d > 40).sum() >= (x2 - x1) // 4  # a visible line of changed pixels at 1/4 scale


# ------------------------------------------------------------------------- CLI render


def test_cli_render_writes_video_labels_images(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["render", "market_day_fire_lane_parking", "--out", str(out), "--images", "--frames", "120:135"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["frames"] == 15 and summary["first"] == 120 and summary["last"] == 134
    assert (out / "classes.txt").read_text().split() == list(CLASSES)
    with av.open(str(out / "video.mp4")) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        decoded = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    assert len(decoded) == 15 and decoded[0].shape == (720, 1280, 3)
    stems = sorted(p.stem for p in (out / "labels").glob("*.txt"))
    assert stems == [f"{i:06d}" for i in range(120, 135)]
    assert sorted(p.stem for p in (out / "images").glob("*.jpg")) == stems
    n = 0
    for p in (out / "labels").glob("*.txt"):
        for line in p.read_text().splitlines():
            parts = line.split()
            assert len(parts) == 5
            assert 0 <= int(parts[0]) < len(CLASSES)
            cx, cy, bw, bh = map(float, parts[1:])
            assert 0 < bw <= 1 and 0 < bh <= 1 and cx - bw / 2 >= -1e-6 and cx + bw / 2 <= 1 + 1e-6
            n += 1
    assert n == sum(summary["objects"].values()) > 0
    truth = json.loads((out / "truth.json").read_text())
    assert truth["start"] == "2026-04-12T14:00:00+08:00"
    assert truth["truth"][0]["kind"] == "parking" and truth["truth"][0]["start"] == "2026-04-12T14:00:25+08:00"
    objs = [json.loads(line) for line in (out / "objects.jsonl").read_text().splitlines()]
    assert [o["frame"] for o in objs] == list(range(120, 135))


def test_cli_render_every_and_entry_point(tmp_path):
    out = tmp_path / "o"
    exe = Path(sys.executable).with_name("edge-sim")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "simulator.cli"]
    res = subprocess.run(cmd + ["render", "reservoir_dusk_two_anglers", "--out", str(out), "--frames", ":9",
                                "--every", "3"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["frames"] == 3
    assert sorted(p.name for p in (out / "labels").iterdir()) == ["000000.txt", "000003.txt", "000006.txt"]
    with av.open(str(out / "video.mp4")) as c:
        assert sum(1 for _ in c.decode(video=0)) == 3
    bad = subprocess.run(cmd + ["render", "reservoir_dusk_two_anglers", "--out", str(out), "--frames", "5:2"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "--frames" in bad.stderr


# ------------------------------------------------------------------------- weather, faults, crowds, new actors

BASE_TOML = '''
[scenario]
name = "t"
site = "reservoir"
duration_s = 30
size = [640, 360]
start = 2026-05-01T10:00:00+08:00
'''


def _one(extra: str, t: float = 10.0):
    sc = parse_scenario(BASE_TOML + extra)
    r = Renderer(sc)
    return sc, r, r.render(int(t * sc.fps))


ANGLER_TOML = '''
[[actors]]
id = "a"
kind = "person"
path = [[0, 0.5, 0.7]]
rod = [[0, 30]]
'''


def test_camera_faults_change_pixels_and_labels_as_a_camera_would():
    _, _, clean = _one(ANGLER_TOML)
    _, _, covered = _one(ANGLER_TOML + '[[camera_faults]]\nkind = "covered"\nstart_s = 5\nend_s = 20\n')
    assert covered.image.mean() < 0.3 * clean.image.mean() and covered.labels == []
    _, _, blurred = _one(ANGLER_TOML + '[[camera_faults]]\nkind = "defocus"\nblur_px = 8\n')
    assert np.abs(np.diff(blurred.image.astype(int), axis=1)).mean() < np.abs(np.diff(clean.image.astype(int), axis=1)).mean()
    assert {lab.actor for lab in blurred.labels} == {lab.actor for lab in clean.labels}
    _, _, knocked = _one(ANGLER_TOML + '[[camera_faults]]\nkind = "knocked"\ndx = 0.1\ndy = 0.0\nangle_deg = 0\n')
    moved = {lab.actor: lab.box[0] for lab in knocked.labels}
    assert all(abs(moved[lab.actor] - lab.box[0] - 64) < 3 for lab in clean.labels)
    sc, r, _ = _one('[[camera_faults]]\nkind = "drop"\nrate = 0.5\n[[camera_faults]]\nkind = "signal_lost"\nstart_s = 20\n'
                    'end_s = 25\n[[camera_faults]]\nkind = "jitter"\nrate = 0.4\n')
    kept = [r.delivered(i) for i in range(sc.n_frames)]
    assert 0.35 < sum(kept[:100]) / 100 < 0.65 and not any(kept[100:125])
    assert kept == [r.delivered(i) for i in range(sc.n_frames)]  # seeded
    times = [r.frame_time(i) for i in range(sc.n_frames)]
    assert all(b > a for a, b in zip(times, times[1:], strict=False)) and any(abs(t - i / 5) > 1e-3 for i, t in enumerate(times))


def test_weather_changes_the_picture_not_the_labels():
    _, _, clean = _one(ANGLER_TOML)
    for weather in ('[weather.rain]\nintensity = 0.8\n', '[weather.rain]\nintensity = 0.6\nangle_deg = -15\n',
                    '[weather.fog]\ndensity = 0.7\n',
                    '[[weather.glare]]\nx = 0.5\ny = 0.5\nradius = 0.1\n'):
        _, _, wet = _one(ANGLER_TOML + weather)
        assert np.abs(wet.image.astype(int) - clean.image.astype(int)).mean() > 1.0, weather
        assert [lab.box for lab in wet.labels] == [lab.box for lab in clean.labels]
    _, _, glare = _one('[[weather.glare]]\nx = 0.5\ny = 0.5\nradius = 0.1\nstrength = 1.0\n')
    assert glare.image[180, 320].min() > 240 and glare.image[30, 30].max() < 250  # local, not global


def test_new_actor_features_label_what_is_visible():
    _, _, f = _one('[[actors]]\nid = "s"\nkind = "rod_stand"\npath = [[0, 0.5, 0.66]]\n'
                   '[[actors]]\nid = "m"\nkind = "motorbike"\npath = [[0, 0.2, 0.9]]\n'
                   '[[actors]]\nid = "p"\nkind = "person"\npath = [[0, 0.8, 0.85]]\npacked_rod = [[0, 30]]\n')
    assert sorted((lab.cls, lab.actor) for lab in f.labels) == [
        ("fishing_rod", "s.rod"), ("person", "m.rider"), ("person", "p"), ("vehicle", "m")]
    _, _, dry = _one('[[actors]]\nid = "w"\nkind = "person"\npath = [[0, 0.5, 0.58]]\nheight_m = 1.7\n')
    _, _, wet = _one('[[actors]]\nid = "w"\nkind = "person"\npath = [[0, 0.5, 0.58]]\nheight_m = 1.7\n'
                     'wading_depth_m = 0.6\n')
    (d,), (w,) = dry.labels, wet.labels
    assert w.box[1] == pytest.approx(d.box[1], abs=2) and w.box[3] < d.box[3] - 0.25 * (d.box[3] - d.box[1])
    _, _, aimed = _one(ANGLER_TOML.replace('rod = [[0, 30]]', 'rod = [[0, 30]]\nrod_aim = "away"'))
    side_rod = next(lab for lab in _one(ANGLER_TOML)[2].labels if lab.cls == "fishing_rod")
    away_rod = next(lab for lab in aimed.labels if lab.cls == "fishing_rod")
    assert away_rod.box[2] - away_rod.box[0] < 0.5 * (side_rod.box[2] - side_rod.box[0])


def test_crowds_expand_into_seeded_walkers_and_bad_tables_are_one_line_errors():
    sc = parse_scenario(BASE_TOML.replace("duration_s = 30", "duration_s = 120")
                        + '[[crowds]]\nid = "c"\ncount = 20\nband = [0.85, 0.95]\n')
    walkers = [a for a in sc.all_actors() if a.id.startswith("c-")]
    assert len(walkers) >= 15 and all(0.85 <= k[2] <= 0.95 for a in walkers for k in a.path)
    assert [a.path for a in walkers] == [a.path for a in sc.all_actors() if a.id.startswith("c-")]
    with pytest.raises(ScenarioError) as e:
        parse_scenario(BASE_TOML + '[[camera_faults]]\nkind = "smashed"\n', "x.toml")
    assert "x.toml: camera_faults[0].kind" in str(e.value)
    with pytest.raises(ScenarioError) as e:
        parse_scenario(BASE_TOML + '[[oracle]]\nactor = "ghost"\n', "x.toml")
    assert "x.toml: oracle[0].actor: unknown actor 'ghost'" in str(e.value)
    with pytest.raises(ScenarioError) as e:
        parse_scenario(BASE_TOML + '[[truth]]\nkind = "camera_tamper"\nzone = "shore"\nstart_s = 1\nend_s = 5\n', "x.toml")
    assert "truth[0].zone" in str(e.value)
