"""The tracker: stable ids through misses and occlusion, weak detections, stationary flags."""

from __future__ import annotations

import numpy as np

from edge.detect.detections import Detections
from edge.track import Tracker, TrackerConfig

CLASSES = ("person", "fishing_rod", "boat", "stall", "cart", "vehicle")


def dets(items: list[tuple[str, tuple[float, float, float, float], float]], coverage=None) -> Detections:
    if not items:
        return Detections.empty(CLASSES, coverage)
    return Detections(np.array([b for _, b, _ in items], np.float32), np.array([s for *_, s in items], np.float32),
                      np.array([CLASSES.index(c) for c, *_ in items], np.int32), CLASSES, coverage)


def walker(t: float, x0: float = 100.0, speed: float = 40.0) -> tuple[float, float, float, float]:
    x = x0 + speed * t
    return (x, 300.0, x + 40.0, 400.0)


def run(tracker: Tracker, frames: list[tuple[float, Detections]]):
    out = []
    for now, d in frames:
        out.append((now, tracker.update(d, now)))
    return out


def test_a_walker_keeps_one_id_through_missed_frames_and_an_occlusion():
    tracker = Tracker()
    frames = []
    for i in range(60):
        t = i * 0.2
        hidden = 20 <= i < 30 or i in (5, 9, 44)  # behind a tree for 2 s, and three single misses
        frames.append((t, dets([] if hidden else [("person", walker(t), 0.8)])))
    ids = {tr.id for _, tracks in run(tracker, frames) for tr in tracks}
    assert ids == {1}


def test_weak_detections_keep_a_track_alive_but_do_not_start_one():
    tracker = Tracker(TrackerConfig(max_lost_s=1.0))
    frames = [(i * 0.2, dets([("person", walker(i * 0.2), 0.9)])) for i in range(5)]
    frames += [(i * 0.2, dets([("person", walker(i * 0.2), 0.25)])) for i in range(5, 30)]  # half hidden
    result = run(tracker, frames)
    assert [tr.id for tr in result[-1][1]] == [1]
    fresh = Tracker()
    result = run(fresh, [(i * 0.2, dets([("stall", (0, 0, 50, 50), 0.25)])) for i in range(10)])
    assert result[-1][1] == []


def test_a_track_is_dropped_after_max_lost_while_the_detector_looks():
    tracker = Tracker(TrackerConfig(max_lost_s=2.0))
    frames = [(i * 0.2, dets([("person", walker(i * 0.2), 0.9)])) for i in range(5)]
    frames += [(1.0 + i * 0.2, dets([])) for i in range(1, 20)]
    result = run(tracker, frames)
    alive = [len(tracks) for _, tracks in result]
    assert alive[5] == 1 and alive[-1] == 0
    gone_at = next(now for now, tracks in result if not tracks and now > 1.0)
    assert 2.8 <= gone_at <= 3.4


def test_a_track_nobody_looks_at_is_not_missed():
    tracker = Tracker(TrackerConfig(max_lost_s=1.0))
    box = (500.0, 500.0, 560.0, 560.0)
    run(tracker, [(i * 0.2, dets([("stall", box, 0.9)])) for i in range(5)])
    # 20 s in which the gate looked only elsewhere, then a look finds it again
    result = run(tracker, [(1.0 + i * 0.2, dets([], coverage=((0, 0, 320, 320),))) for i in range(100)])
    assert [t.id for t in result[-1][1]] == [1]
    assert [t.id for t in tracker.update(dets([("stall", box, 0.9)]), 21.2)] == [1]


def test_classes_do_not_swap_ids():
    tracker = Tracker()
    box = (100.0, 100.0, 160.0, 200.0)
    frames = [(i * 0.2, dets([("person", box, 0.9), ("fishing_rod", (120.0, 40.0, 300.0, 150.0), 0.8)]))
              for i in range(6)]
    tracks = run(tracker, frames)[-1][1]
    assert sorted((t.cls, t.id) for t in tracks) == [("fishing_rod", 2), ("person", 1)]


def test_stationary_flag_follows_motion():
    tracker = Tracker(TrackerConfig(stationary_window_s=3.0))
    rng = np.random.default_rng(0)
    frames = []
    for i in range(50):  # a cart that stands for 6 s (with detector jitter), then rolls away
        t = i * 0.2
        x = 300.0 if t < 6 else 300.0 + 60 * (t - 6)
        j = rng.normal(0, 1.5, 4)
        frames.append((t, dets([("cart", (x + j[0], 300 + j[1], x + 80 + j[2], 360 + j[3]), 0.9)])))
    flags = {}
    for now, d in frames:  # tracks are live objects: read the flag as each frame leaves the tracker
        tracks = tracker.update(d, now)
        if tracks:
            flags[round(now, 1)] = tracks[0].stationary
    assert not flags[2.0] and flags[5.0] and not flags[9.0]


def test_a_lost_track_never_takes_a_detection_of_another_class():
    tracker = Tracker()
    run(tracker, [(i * 0.2, dets([("person", (100, 100, 140, 200), 0.9)])) for i in range(5)])
    run(tracker, [(1.0 + i * 0.2, dets([])) for i in range(3)])  # the person is lost for a moment
    tracks = run(tracker, [(1.8 + i * 0.2, dets([("vehicle", (900, 300, 1100, 400), 0.9)])) for i in range(3)])[-1][1]
    assert [(t.cls, t.id) for t in tracks if t.visible] == [("vehicle", 2)]


def test_a_parked_van_half_hidden_for_a_moment_stays_stationary_and_does_not_drift():
    """A pedestrian walks past a parked van: for three frames its box is half as wide.  It still
    stands still; and while the detector looks elsewhere its track stays where it is."""
    tracker = Tracker(TrackerConfig(stationary_window_s=4.0))
    full, half = (380.0, 308.0, 590.0, 395.0), (380.0, 308.0, 480.0, 395.0)
    flags = []
    for i in range(60):
        t = i * 0.2
        box = half if i in (40, 41, 42) else full
        tracks = tracker.update(dets([("vehicle", box, 0.9)]), t)
        flags.append(bool(tracks) and tracks[0].stationary)
    assert all(flags[25:]) and len(tracker.tracks) == 1
    elsewhere = [(0.0, 0.0, 300.0, 200.0)]  # the motion gate looks at another corner for 10 s
    for i in range(60, 110):
        tracks = tracker.update(dets([], coverage=elsewhere), i * 0.2)
    assert np.allclose(tracks[0].box, full, atol=8)


def test_a_slow_creep_is_not_stationary():
    tracker = Tracker(TrackerConfig(stationary_window_s=4.0))
    for i in range(60):  # 0.6 box widths in the 4 s window
        t = i * 0.2
        x = 300 + 6 * t * 5
        tracks = tracker.update(dets([("vehicle", (x, 300.0, x + 200, 380.0), 0.9)]), t)
    assert not tracks[0].stationary


def test_a_track_crops_under_score_keeps_its_id_between_whole_frame_looks():
    """A dark boat: found on the whole-frame look every 10 s, missed by every zoomed crop between.
    Crop misses after a whole-frame hit are not evidence it left: one track, confirmed on the
    second whole look, alive throughout."""
    tracker = Tracker()
    crop = ((300, 200, 620, 520),)
    ids, confirmed_at = set(), None
    for i in range(0, 5 * 60):
        t = i * 0.2
        box = (400.0 + t, 300.0, 520.0 + t, 360.0)  # drifting slowly
        whole = i % 50 == 0
        tracks = tracker.update(dets([("boat", box, 0.65)]) if whole else dets([], coverage=crop), t)
        ids |= {tr.id for tr in tracks}
        if tracks and confirmed_at is None:
            confirmed_at = t
    assert ids == {1} and confirmed_at == 10.0
    assert [tr.id for tr in tracker.tracks] == [1]


def test_a_sparsely_seen_object_that_stands_still_becomes_stationary():
    tracker = Tracker()
    box = (500.0, 500.0, 600.0, 600.0)
    for i in range(0, 5 * 40):
        t = i * 0.2
        tracks = tracker.update(dets([("stall", box, 0.7)]) if i % 50 == 0 else dets([], coverage=((0, 0, 900, 900),)), t)
    assert tracks and tracks[0].stationary and tracks[0].still_since == 0.0


def test_a_parked_car_hidden_behind_a_stopped_truck_keeps_its_track():
    """A truck stops in front of a parked car for 60 s (far longer than max_lost_s): the car's track
    is held while something nearer covers it, and it picks the car up again where it was."""
    tracker = Tracker(TrackerConfig(max_lost_s=4.0))
    car = (400.0, 300.0, 600.0, 400.0)
    truck_at = lambda x: (x, 280.0, x + 330, 460.0)  # noqa: E731 - nearer (lower bottom edge), bigger
    for i in range(0, 5 * 100):
        t = i * 0.2
        items = []
        if t < 20 or t >= 80.6:  # hidden from 20 s until the truck pulls away
            items.append(("vehicle", car, 0.9))
        if 15 <= t < 85:
            x = min(-400 + 160 * (t - 15), 340.0) if t < 80 else 340.0 + 120 * (t - 80)
            items.append(("vehicle", truck_at(x), 0.9))
        tracker.update(dets(items), t)
        if 30 <= t < 80:
            assert any(tr.id == 1 and tr.hidden for tr in tracker.tracks)
    car_tracks = [tr for tr in tracker.confirmed() if abs(tr.box[0] - car[0]) < 20]
    assert [tr.id for tr in car_tracks] == [1] and car_tracks[0].stationary


def test_a_hidden_track_is_dropped_when_the_cover_goes_and_it_is_not_there():
    tracker = Tracker(TrackerConfig(max_lost_s=4.0))
    car = (400.0, 300.0, 600.0, 400.0)
    for i in range(0, 5 * 60):
        t = i * 0.2
        items = [("vehicle", car, 0.9)] if t < 20 else []
        if 15 <= t < 40:
            items.append(("vehicle", (340.0, 280.0, 670.0, 460.0), 0.9))  # a truck in front, then gone
        tracker.update(dets(items), t)
    assert not any(tr.id == 1 for tr in tracker.tracks)
