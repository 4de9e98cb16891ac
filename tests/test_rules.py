"""Rule engine on scripted track streams: zones, dwell, schedules, tiers, cooldown, look-alikes."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from edge.config.profile import Profile
from edge.config.rules import ScheduleConfig
from edge.config.zones import ZoneConfig
from edge.rules import RuleEngine, Schedule, Zone
from edge.track.kalman import BoxKalman
from edge.track.tracker import Track

TZ = "Asia/Shanghai"
SIZE = (1000, 1000)
T0 = datetime(2026, 4, 10, 9, 0, tzinfo=ZoneInfo(TZ)).timestamp()


def profile(rules: list[dict], zones: list[dict] | None = None) -> Profile:
    zones = zones or [{"name": "shore", "polygon": [[0, 0.6], [1, 0.6], [1, 0.8], [0, 0.8]], "inertia_frames": 2}]
    return Profile.model_validate({"node": {"id": "n1", "kind": "camera", "timezone": TZ},
                                   "capture": {"source": "usb:0"}, "zones": zones, "rules": rules})


def track(tid: int, cls: str, box, now: float, stationary: bool = False, score: float = 0.9) -> Track:
    t = Track(tid, cls, score, first_seen=0.0, last_seen=now, hits=5, kalman=BoxKalman(list(box)))
    t.stationary = stationary
    return t


class Script:
    """Feeds the engine one frame per step (5 fps); `scene(t)` returns the tracks at scene time t."""

    def __init__(self, engine: RuleEngine, fps: float = 5.0, t0: float = T0):
        self.engine, self.fps, self.t0 = engine, fps, t0
        self.events: list[tuple[float, str, str]] = []  # (t, stage, violation id)
        self.spoken: list[float] = []

    def run(self, seconds: float, scene, start: float = 0.0) -> Script:
        n = round(seconds * self.fps)
        for i in range(n):
            t = start + i / self.fps
            for e in self.engine.update(scene(t), t, self.t0 + t, SIZE):
                self.events.append((round(t, 2), e.stage, e.violation.id))
                if e.speak:
                    self.spoken.append(round(t, 2))
        return self

    def stages(self) -> list[str]:
        return [s for _, s, _ in self.events]

    def at(self, stage: str) -> list[float]:
        return [t for t, s, _ in self.events if s == stage]


FISHING = {"name": "no_fishing", "kind": "fishing", "zones": ["shore"], "dwell_s": 20, "recheck_s": 30,
           "clear_after_s": 10, "cooldown_s": 120}
ANGLER = (480, 600, 520, 700)  # feet at y=700: inside the shore band 600..800
ROD = (300, 450, 500, 640)  # reaching out over the water from the angler's hands


def angler(until: float, rod: bool = True):
    def scene(t):
        if t >= until:
            return []
        tracks = [track(1, "person", ANGLER, t, stationary=True)]
        if rod:
            tracks.append(track(2, "fishing_rod", ROD, t, stationary=True))
        return tracks
    return scene


def test_fishing_warns_at_dwell_alerts_after_recheck_and_clears():
    s = Script(RuleEngine(profile([FISHING]))).run(120, angler(until=90))
    assert s.stages() == ["warning", "alert", "cleared"]
    # membership needs 2 frames (0.2 s): warning at 20.2 s, alert 30 s later, cleared 10 s after leaving
    assert s.at("warning") == [20.2] and s.at("alert") == [50.2] and s.at("cleared") == [99.8]
    assert len({vid for *_, vid in s.events}) == 1
    assert s.spoken == [20.2]


def test_dwell_boundary_is_exact():
    rule = {**FISHING, "dwell_s": 10}
    assert Script(RuleEngine(profile([rule]))).run(40, angler(until=10.1)).stages() == []
    assert Script(RuleEngine(profile([rule]))).run(40, angler(until=10.6)).stages() == ["warning", "cleared"]


def test_a_violation_that_ends_after_its_warning_is_never_an_alert():
    s = Script(RuleEngine(profile([FISHING]))).run(120, angler(until=35))
    assert s.stages() == ["warning", "cleared"]


def test_a_person_without_a_rod_is_not_fishing_but_a_rod_alone_is():
    assert Script(RuleEngine(profile([FISHING]))).run(90, angler(until=80, rod=False)).stages() == []

    def rod_only(t):  # a rod on a stand, touching the shore zone, with nobody near it
        return [track(2, "fishing_rod", (300, 500, 420, 640), t, stationary=True)]
    assert Script(RuleEngine(profile([FISHING]))).run(90, rod_only).stages() == ["warning", "alert"]


def test_someone_walking_along_the_bank_with_a_rod_outside_the_zone_is_not_fishing():
    def walker(t):  # on the path below the shore band
        x = 50 + 8 * t
        return [track(1, "person", (x, 850, x + 40, 950), t), track(2, "fishing_rod", (x, 700, x + 30, 900), t)]
    assert Script(RuleEngine(profile([FISHING]))).run(100, walker).stages() == []


def test_zone_inertia_ignores_a_flickering_box():
    def flicker(t):  # feet cross the zone edge every other frame
        y = 700 if round(t * 5) % 2 else 850
        return [track(1, "person", (480, y - 100, 520, y), t), track(2, "fishing_rod", (300, y - 250, 500, y - 60), t)]
    assert Script(RuleEngine(profile([{**FISHING, "dwell_s": 5}]))).run(60, flicker).stages() == []


def test_stall_must_stand_still_and_outlast_the_dwell():
    zones = [{"name": "no_stall", "polygon": [[0, 0.8], [1, 0.8], [1, 1], [0, 1]]}]
    rule = {"name": "no_stall", "kind": "stall", "zones": ["no_stall"], "dwell_s": 60, "recheck_s": 60}

    def delivery_cart(t):  # stops 30 s on the sidewalk, then goes
        return [track(1, "cart", (400, 820, 520, 900), t, stationary=True)] if 10 <= t < 40 else []
    assert Script(RuleEngine(profile([rule], zones))).run(150, delivery_cart).stages() == []

    def pushing(t):  # a cart moving along the sidewalk the whole time is not a stall
        return [track(1, "cart", (10 + 3 * t, 820, 130 + 3 * t, 900), t, stationary=False)]
    assert Script(RuleEngine(profile([rule], zones))).run(200, pushing).stages() == []

    def stall(t):
        return [track(1, "stall", (400, 800, 600, 960), t, stationary=True)] if 5 <= t < 200 else []
    s = Script(RuleEngine(profile([rule], zones))).run(230, stall)
    assert s.stages() == ["warning", "alert", "cleared"] and s.at("alert")[0] == pytest.approx(125.2, abs=0.3)


def test_a_tracker_id_switch_does_not_make_a_new_violation():
    zones = [{"name": "fire_lane", "polygon": [[0, 0.4], [1, 0.4], [1, 0.6], [0, 0.6]]}]
    rule = {"name": "fire_lane", "kind": "parking", "zones": ["fire_lane"], "dwell_s": 30, "recheck_s": 30}

    def parked(t):  # the tracker loses the car at 40 s and finds it again as id 7
        tid = 3 if t < 40 else 7
        return [] if 40 <= t < 43 else [track(tid, "vehicle", (300, 420, 500, 550), t, stationary=True)]
    s = Script(RuleEngine(profile([rule], zones))).run(120, parked)
    assert s.stages() == ["warning", "alert"] and len({vid for *_, vid in s.events}) == 1


def test_two_anglers_are_two_violations():
    def two(t):
        return [track(1, "person", ANGLER, t, True), track(2, "fishing_rod", ROD, t, True),
                track(3, "person", (780, 610, 820, 710), t, True), track(4, "fishing_rod", (800, 450, 980, 650), t, True)]
    s = Script(RuleEngine(profile([FISHING]))).run(60, two)
    assert s.stages() == ["warning", "warning", "alert", "alert"] and len({vid for *_, vid in s.events}) == 2


def test_cooldown_keeps_the_loudspeaker_quiet_but_not_the_record():
    s = Script(RuleEngine(profile([{**FISHING, "recheck_s": 1000}])))
    s.run(50, angler(until=30))  # first angler: warning at 20 s, spoken
    s.run(100, lambda t: angler(until=1e9)(t) if t >= 60 else [], start=50)  # second, 40 s later: within 120 s
    assert s.stages().count("warning") == 2
    assert s.spoken == [20.2]


def test_schedule_night_only_rule_arms_at_dusk():
    rule = {"name": "boats", "kind": "boat_intrusion", "zones": ["water"], "dwell_s": 10, "recheck_s": 10,
            "schedule": {"hours": ["19:00-06:00"]}}
    zones = [{"name": "water", "polygon": [[0, 0.3], [1, 0.3], [1, 0.6], [0, 0.6]]}]
    evening = datetime(2026, 7, 1, 18, 59, 0, tzinfo=ZoneInfo(TZ)).timestamp()

    def boat(t):
        return [track(1, "boat", (300, 400, 500, 480), t)]
    s = Script(RuleEngine(profile([rule], zones)), t0=evening).run(90, boat)
    assert s.at("warning") == [70.0]  # armed at 19:00 (t = 60 s), then the 10 s dwell
    s = Script(RuleEngine(profile([rule], zones)), t0=evening - 3600).run(60, boat)
    assert s.stages() == []


def sched(**kwargs) -> Schedule:
    return Schedule.from_config(ScheduleConfig(**kwargs), TZ)


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(TZ)).timestamp()


def test_schedule_edges_midnight_seasons_and_weekdays():
    night = sched(hours=["22:00-06:00"])
    assert night.armed(at("2026-05-01 22:00:00")) and night.armed(at("2026-05-02 05:59:59"))
    assert not night.armed(at("2026-05-02 06:00:00")) and not night.armed(at("2026-05-01 21:59:59"))
    ban = sched(dates=["03-01..06-30"])
    assert ban.armed(at("2026-03-01 00:00:00")) and ban.armed(at("2026-06-30 23:59:59"))
    assert not ban.armed(at("2026-02-28 23:59:59")) and not ban.armed(at("2026-07-01 00:00:00"))
    winter = sched(dates=["11-15..02-15"])
    assert winter.armed(at("2026-12-31 12:00:00")) and winter.armed(at("2027-01-10 12:00:00"))
    assert not winter.armed(at("2026-03-01 12:00:00"))
    friday_night = sched(hours=["22:00-06:00"], weekdays=["fri"])  # 2026-05-01 is a Friday
    assert friday_night.armed(at("2026-05-01 23:00:00")) and friday_night.armed(at("2026-05-02 03:00:00"))
    assert not friday_night.armed(at("2026-05-01 03:00:00"))
    market = sched(hours=["07:00-12:00", "16:00-19:30"], weekdays=["sat", "sun"])
    assert market.armed(at("2026-05-02 11:59:00")) and not market.armed(at("2026-05-02 13:00:00"))
    assert not market.armed(at("2026-05-04 08:00:00"))
    assert sched(hours=["00:00-24:00"]).armed(at("2026-05-04 23:59:59"))
    # the node's time zone, not UTC: 22:30 in Shanghai is 14:30 UTC
    assert night.armed(datetime(2026, 5, 1, 14, 30, tzinfo=ZoneInfo("UTC")).timestamp())


def test_zone_anchor_and_area_limits():
    zone = Zone.from_config(ZoneConfig(name="z", polygon=((0, 0.5), (1, 0.5), (1, 1), (0, 1)), max_area=0.1))
    assert zone.contains((100, 300, 200, 520), SIZE)  # feet inside
    assert not zone.contains((100, 300, 200, 520), SIZE, anchor="center")
    assert zone.contains((100, 300, 200, 480), SIZE, anchor="any") is False
    assert zone.accepts("person", (0, 0, 100, 100), SIZE) and not zone.accepts("person", (0, 0, 500, 500), SIZE)


def test_disarming_a_zone_clears_its_violations():
    engine = RuleEngine(profile([FISHING]))
    s = Script(engine).run(60, angler(until=1e9))
    cleared = engine.arm_zone("shore", False, T0 + 60)
    assert [e.stage for e in cleared] == ["cleared"] and cleared[0].message["reason"] == "disarmed"
    s.run(10, angler(until=1e9), start=60)
    assert s.stages() == ["warning", "alert"]  # nothing more while disarmed


def test_two_tracks_on_one_parked_car_are_one_violation():
    """The tracker briefly holds two tracks for one car (its half-hidden box, then the whole one);
    the old track then ends.  The violation goes on under the new track: one warning, one alert."""
    zones = [{"name": "fire_lane", "polygon": [[0, 0.4], [1, 0.4], [1, 0.6], [0, 0.6]]}]
    rule = {"name": "fire_lane", "kind": "parking", "zones": ["fire_lane"], "dwell_s": 30, "recheck_s": 30,
            "clear_after_s": 5}

    def parked(t):
        tracks = []
        if t < 25:
            tracks.append(track(3, "vehicle", (300, 420, 500, 550), t, stationary=True))
        if t >= 20:
            tracks.append(track(9, "vehicle", (302, 421, 498, 551), t, stationary=True))
        return tracks
    s = Script(RuleEngine(profile([rule], zones))).run(90, parked)
    assert s.stages() == ["warning", "alert"] and len({vid for *_, vid in s.events}) == 1
    assert s.at("alert")[0] == pytest.approx(60.0, abs=0.6)


def test_one_bad_box_of_a_stall_does_not_split_its_violation():
    """market_day_stall_sidewalk with the model: the stall has two tracks (the whole stall and the
    crates' box kept from the set-up), both in one violation; for one frame the whole stall's box is
    a crop's cut half, so the two boxes no longer overlap as twins.  The second track was already in
    the violation: it stays there, no second warning."""
    zones = [{"name": "no_stall", "polygon": [[0, 0.8], [1, 0.8], [1, 1], [0, 1]]}]
    rule = {"name": "no_stall", "kind": "stall", "zones": ["no_stall"], "dwell_s": 60, "recheck_s": 60}
    whole, crates, cut = (300, 680, 410, 900), (315, 805, 400, 904), (345, 680, 410, 860)

    def stall(t):
        tracks = [track(6, "stall", cut if 150 <= t < 150.3 else whole, t, stationary=True)]
        if t >= 70:
            tracks.append(track(25, "stall", crates, t, stationary=True))
        return tracks
    s = Script(RuleEngine(profile([rule], zones))).run(240, stall)
    assert s.stages() == ["warning", "alert"] and len({vid for *_, vid in s.events}) == 1


# --- camera_tamper -------------------------------------------------------------------------------

TAMPER = {"name": "tamper", "kind": "camera_tamper", "dwell_s": 5, "recheck_s": 0, "clear_after_s": 5}


def scene_image(rng, base, shift=(0, 0), blur=0.0, dark=False):
    """A camera frame: a fixed textured scene plus sensor noise; faults as asked."""
    import cv2
    import numpy as np

    img = base
    if shift != (0, 0):
        img = np.roll(img, shift, axis=(0, 1))
    if blur:
        img = cv2.GaussianBlur(img, (0, 0), blur)
    if dark:
        img = np.full_like(base, 15)
    noisy = img.astype(np.int16) + rng.normal(0, 3, img.shape).astype(np.int16)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def tamper_run(fault, seconds=40, extra=None, fps=5.0):
    """Frames of a textured scene with `fault(t)` -> kwargs of scene_image; returns (t, stage, class)."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(7)
    base = cv2.resize(rng.integers(0, 255, (45, 80, 3), dtype=np.uint8), (320, 180), interpolation=cv2.INTER_CUBIC)
    rules = [TAMPER] + ([extra] if extra else [])
    engine = RuleEngine(profile(rules))
    out = []
    for i in range(int(seconds * fps)):
        t = i / fps
        kwargs = fault(t)
        if kwargs is None:
            continue  # no frame at all (signal lost)
        tracks = angler(until=1e9)(t) if extra else []
        for e in engine.update(tracks, t, T0 + t, SIZE, image=scene_image(rng, base, **kwargs)):
            out.append((round(t, 1), e.stage, e.message["kind"], e.message["objects"][0]["class"] if e.message["objects"]
                        else None, e.speak))
    return out


def test_a_covered_lens_is_an_alert_without_a_loudspeaker_and_clears_when_uncovered():
    events = tamper_run(lambda t: {"dark": 10 <= t < 25})
    assert [(s, k, c) for _, s, k, c, _ in events] == [("alert", "camera_tamper", "covered"),
                                                        ("cleared", "camera_tamper", "covered")]
    assert events[0][0] == pytest.approx(15.0, abs=0.3) and not any(speak for *_, speak in events)
    assert events[1][0] == pytest.approx(30.0, abs=0.4)


def test_defocus_a_knocked_camera_and_a_lost_signal_are_told_apart():
    assert [c for _, s, _, c, _ in tamper_run(lambda t: {"blur": 6.0 if t >= 10 else 0.0}) if s == "alert"] == ["defocused"]
    assert [c for _, s, _, c, _ in tamper_run(lambda t: {"shift": (20, 45) if t >= 10 else (0, 0)})
            if s == "alert"] == ["moved"]
    gap = tamper_run(lambda t: None if 10 <= t < 22 else {})  # no frames for 12 s
    assert [(s, c) for _, s, _, c, _ in gap][:1] == [("alert", "signal_lost")] and gap[0][0] == pytest.approx(22, abs=0.3)
    assert tamper_run(lambda t: {}) == []  # a healthy camera: nothing


def test_other_violations_are_held_while_the_camera_cannot_see():
    """The angler's fishing violation does not clear while the lens is covered (20 s, longer than
    its clear_after_s) even though the tracker reports nobody."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(3)
    base = cv2.resize(rng.integers(0, 255, (45, 80, 3), dtype=np.uint8), (320, 180), interpolation=cv2.INTER_CUBIC)
    engine = RuleEngine(profile([TAMPER, FISHING]))
    stages = []
    for i in range(0, 2 * 120):  # 2 fps
        t = i / 2
        covered = 60 <= t < 80
        tracks = [] if covered else angler(until=1e9)(t)
        for e in engine.update(tracks, t, T0 + t, SIZE, image=scene_image(rng, base, dark=covered)):
            stages.append((e.message["kind"], e.stage))
    assert stages == [("fishing", "warning"), ("fishing", "alert"), ("camera_tamper", "alert"),
                      ("camera_tamper", "cleared")]


def test_camera_tamper_rules_take_no_zones_and_others_need_one():
    with pytest.raises(Exception, match="give it no zones"):
        profile([{**TAMPER, "zones": ["shore"]}])
    with pytest.raises(Exception, match="at least one zone"):
        profile([{"name": "f", "kind": "fishing"}])


# --- who holds the rod ---------------------------------------------------------------------------

FRIEND = (470, 640, 530, 860)  # on the path behind the angler (feet at 860: outside the shore band), nearer
BOAT_CREW = (330, 380, 370, 470)  # in a boat under the rod's tip


def test_people_near_the_rod_outside_the_zone_do_not_take_it_from_the_angler():
    """A friend standing behind the angler and a boat's crew under the rod both touch it within arm's
    reach; the angler's hands explain it best, so his violation goes on: one warning, one alert."""
    def scene(t):
        return [track(1, "person", ANGLER, t, True), track(2, "fishing_rod", ROD, t, True),
                track(3, "person", FRIEND, t, True), track(4, "person", BOAT_CREW, t)]
    s = Script(RuleEngine(profile([FISHING]))).run(100, scene)
    assert s.stages() == ["warning", "alert"] and len({vid for *_, vid in s.events}) == 1


def test_the_rod_stays_with_its_angler_when_someone_comes_about_as_close():
    from edge.rules.kinds import holder

    angler_t, rod = track(1, "person", ANGLER, 0.0), track(2, "fishing_rod", ROD, 0.0)
    other = track(3, "person", (455, 600, 495, 700), 0.0)  # a little nearer the rod's butt
    memory: dict = {}
    assert holder(rod, [angler_t], memory).id == 1
    assert holder(rod, [angler_t, other], memory).id == 1  # not clearly nearer: it stays
    far = track(4, "person", (900, 600, 940, 700), 0.0)
    assert holder(rod, [far], {}) is None  # out of reach


def test_a_rod_seen_alone_next_to_its_angler_is_one_violation():
    """The angler's rod is sometimes tracked out of his reach (a rod on a stand beside him, or a box
    that jitters): it joins his violation rather than making a second one."""
    stand = (560, 560, 700, 660)  # beside him, out of arm's reach

    def scene(t):
        tracks = [track(1, "person", ANGLER, t, True)]
        if t < 30:
            tracks.append(track(2, "fishing_rod", ROD, t, True))
        tracks.append(track(5, "fishing_rod", stand, t, True))
        return tracks
    s = Script(RuleEngine(profile([FISHING]))).run(90, scene)
    assert s.stages() == ["warning", "alert"] and len({vid for *_, vid in s.events}) == 1


def test_a_wading_angler_at_the_zone_edge_is_fishing():
    wader = (480, 470, 520, 590)  # legs hidden by the water: the box ends just above the shore band
    rod = (300, 330, 500, 520)

    def scene(t):
        return [track(1, "person", wader, t, True), track(2, "fishing_rod", rod, t, True)]
    assert Script(RuleEngine(profile([FISHING]))).run(60, scene).stages() == ["warning", "alert"]


def test_a_knee_deep_wader_whose_box_ends_at_the_waterline_is_fishing():
    """reservoir_day_wading_angler with the model: the detector boxes what shows above the water
    (0.5 m of 1.7 m hidden), so the box ends 0.3 of its height above the shore band."""
    wader = (480, 470, 510, 570)  # 100 px that show; feet 30 px further down, at the band's edge
    rod = (300, 330, 490, 500)

    def scene(t):
        return [track(1, "person", wader, t, True), track(2, "fishing_rod", rod, t, True)]
    assert Script(RuleEngine(profile([FISHING]))).run(60, scene).stages() == ["warning", "alert"]

    def crew_out_on_the_water(t):  # a boat's crew well out on the water keeps out of the band
        return [track(1, "person", (480, 380, 510, 440), t, True), track(2, "fishing_rod", (300, 250, 490, 420), t, True)]
    assert Script(RuleEngine(profile([FISHING]))).run(60, crew_out_on_the_water).stages() == []


def test_the_market_fire_lane_counts_a_cart_left_there_not_one_passing():
    """A fire lane must be clear of anything parked: the shipped market profile alerts on a
    tricycle or handcart (or a scooter the detector reads as a cart) standing in it, as on a car;
    a cart pushed along the lane is not parked."""
    from pathlib import Path

    from edge.config import load_profile

    market = load_profile(Path(__file__).parent.parent / "firmware_config" / "market.toml")

    def left(t):
        return [track(4, "cart", (400, 470, 470, 540), t, stationary=True)]

    s = Script(RuleEngine(market)).run(130, left)
    parking = [(t, stage) for t, stage, vid in s.events if "fire_lane" in vid]
    assert [stage for _, stage in parking] == ["warning", "alert"]

    def pushed(t):
        x = 20 + 6 * t
        return [track(5, "cart", (x, 470, x + 70, 540), t, stationary=False)]

    assert Script(RuleEngine(market)).run(130, pushed).events == []


def test_a_track_the_tracker_only_coasts_does_not_take_the_anglers_violation_from_his_new_track():
    """A moving camera: the tracker's prediction of the angler drifts off him (it coasts, unseen,
    carrying a stray rod box) and it finds him again as a new track with his rod.  The track seen
    in this frame claims the violation first; the coasting one, listed first, must not take it and
    leave the angler a second violation (a second warning and a clear while he fishes on)."""
    ghost_box, ghost_rod = (80, 600, 120, 700), (60, 450, 110, 640)

    def scene(t):
        if t < 25:  # warned at 20 s
            return [track(1, "person", ANGLER, t, stationary=True), track(2, "fishing_rod", ROD, t, stationary=True)]
        tracks = []
        if t < 29:  # the old track coasts on, off the angler, until the tracker drops it
            for tid, cls, box in ((1, "person", ghost_box), (7, "fishing_rod", ghost_rod)):
                ghost = track(tid, cls, box, t)
                ghost.missed_since = 25.0
                tracks.append(ghost)
        return tracks + [track(3, "person", ANGLER, t, stationary=True), track(2, "fishing_rod", ROD, t, stationary=True)]

    engine = RuleEngine(profile([FISHING]))
    Script(engine).run(28, scene)
    assert len(engine.open) == 1  # nor does the coasting track start a violation of its own
    s = Script(RuleEngine(profile([FISHING]))).run(90, scene)
    assert s.stages() == ["warning", "alert"] and len({vid for *_, vid in s.events}) == 1
    assert s.at("alert")[0] == pytest.approx(50.0, abs=0.6)
