"""The motion gate: regions where things move, none where nothing does, lighting is not motion."""

from __future__ import annotations

import numpy as np

from edge.detect.gate import DetectionGate, GateTrack, merge_regions, square_region
from edge.detect.motion import MotionDetector

W, H = 1280, 720
_BASE = np.kron(np.random.default_rng(7).integers(60, 200, (H // 8, W // 8)), np.ones((8, 8))).astype(np.int16)
_NOISE = [np.random.default_rng(50 + i).normal(0, 3, (H, W)).astype(np.int16) for i in range(6)]


def scene(rng: np.random.Generator, t: int, square_at: tuple[int, int] | None = None, gain: float = 1.0,
          ripple: bool = True) -> np.ndarray:
    """A textured static background with sensor noise, rippling 'water' on top, and an optional dark square."""
    img = _BASE.copy()
    if ripple:  # glints that flicker from frame to frame in the top band
        glints = np.random.default_rng(1000 + t % 7).random((H // 4, W)) > 0.97
        img[: H // 4][glints] = 250
    if square_at is not None:
        x, y = square_at
        img[y:y + 60, x:x + 40] = 20
    if gain != 1.0:
        img = (img * gain).astype(np.int16)
    img += _NOISE[int(rng.integers(len(_NOISE)))]
    grey = np.clip(img, 0, 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def overlaps(box, region) -> bool:
    return box[0] < region[2] and region[0] < box[2] and box[1] < region[3] and region[1] < box[3]


def test_a_static_scene_has_no_motion_even_with_noise_and_ripples():
    rng = np.random.default_rng(0)
    motion = MotionDetector((W, H))
    found = [motion.detect(scene(rng, t)) for t in range(80)]
    assert sum(len(b) for b in found[20:]) == 0


def test_a_moving_object_is_found_where_it_moves():
    rng = np.random.default_rng(1)
    motion = MotionDetector((W, H))
    for t in range(30):
        motion.detect(scene(rng, t))
    hits = 0
    for step in range(20):
        x, y = 300 + 12 * step, 400
        boxes = motion.detect(scene(rng, 30 + step, square_at=(x, y)))
        assert all(overlaps(b, (x - 30, y - 30, x + 70, y + 90)) for b in boxes), boxes  # nothing elsewhere
        hits += any(overlaps(b, (x, y, x + 40, y + 60)) for b in boxes)
    assert hits >= 18


def test_a_lighting_change_is_not_motion():
    rng = np.random.default_rng(2)
    motion = MotionDetector((W, H))
    for t in range(30):
        motion.detect(scene(rng, t))
    after = [motion.detect(scene(rng, 30 + t, gain=0.55)) for t in range(15)]
    assert sum(len(b) for b in after) == 0
    # and once the new light is learnt, motion is seen again
    boxes = [motion.detect(scene(rng, 45 + t, square_at=(600 + 10 * t, 300), gain=0.55)) for t in range(5)]
    assert any(any(overlaps(b, (600, 300, 700, 360)) for b in frame) for frame in boxes)


def test_masked_areas_are_ignored():
    rng = np.random.default_rng(3)
    motion = MotionDetector((W, H), mask=[[(0.0, 0.4), (1.0, 0.4), (1.0, 0.8), (0.0, 0.8)]])
    for t in range(30):
        motion.detect(scene(rng, t))
    boxes = [motion.detect(scene(rng, 30 + s, square_at=(300 + 12 * s, 400))) for s in range(10)]
    assert sum(len(b) for b in boxes) == 0


def test_regions_are_squares_at_least_the_model_input_and_inside_the_frame():
    r = square_region((10, 700, 30, 719), (W, H), 320)
    assert r == (0, 400, 320, 720)
    r = square_region((500, 100, 900, 400), (W, H), 320)
    assert r[2] - r[0] == r[3] - r[1] == 560 and r[1] >= 0 and r[3] <= H
    merged = merge_regions([(0, 0, 320, 320), (300, 0, 620, 320), (900, 400, 1220, 720)], (W, H), 320)
    assert len(merged) == 2 and (0, 0, 620, 620) in merged


def test_gate_plan_full_frame_on_recheck_then_idle_then_motion_regions():
    rng = np.random.default_rng(4)
    gate = DetectionGate((W, H), (320, 320), recheck_s=10.0)
    plans = [gate.plan(scene(rng, t), now=t * 0.2) for t in range(40)]  # 8 s of a static scene
    assert plans[0].regions is None and plans[0].reason == "recheck"
    assert all(p.reason == "idle" and not p.runs_detector for p in plans[15:])
    x, y = 700, 500
    plan = None
    for s in range(3):
        plan = gate.plan(scene(rng, 40 + s, square_at=(x + 12 * s, y)), now=8.0 + 0.2 * s)
    assert plan.reason == "motion" and len(plan.regions) == 1
    (x1, y1, x2, y2), = plan.regions
    assert x2 - x1 == y2 - y1 >= 320 and x1 <= x + 24 and x + 64 <= x2 and y1 <= y and y + 60 <= y2
    late = gate.plan(scene(rng, 60), now=10.5)
    assert late.regions is None and late.reason == "recheck"


def test_stationary_tracks_are_rechecked_at_an_interval_moving_ones_every_frame():
    rng = np.random.default_rng(5)
    gate = DetectionGate((W, H), (320, 320), recheck_s=1000.0, stationary_interval_s=2.0)
    still = GateTrack(1, (100, 100, 150, 200), stationary=True)
    walker = GateTrack(2, (900, 300, 950, 400), stationary=False)
    image = scene(rng, 0, ripple=False)
    gate.plan(image, now=0.0, tracks=[still, walker])  # first plan: full recheck
    looked_at_still = []
    for i in range(1, 21):
        plan = gate.plan(image, now=i * 0.2, tracks=[still, walker])
        assert plan.regions and any(overlaps(walker.box, r) for r in plan.regions)
        looked_at_still.append(any(overlaps(still.box, r) for r in plan.regions))
    assert 1 <= sum(looked_at_still) <= 3  # 4 s of frames, a 2 s interval


def test_gate_off_means_the_whole_picture_every_frame():
    gate = DetectionGate((W, H), (320, 320), enabled=False)
    image = scene(np.random.default_rng(6), 0)
    assert all(gate.plan(image, now=t).regions is None for t in range(5))
