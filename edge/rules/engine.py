"""The rule engine: tracks in, lifecycle events out.

Each armed rule looks at its zones every frame, finds the subjects of a violation there (kinds.py),
and follows each violation through its tiers (lifecycle.py).  A subject keeps its violation across
tracker id switches when it reappears where the violation was: a stall does not become a new
violation because the tracker lost it for a moment.
"""

from __future__ import annotations

import math
from zoneinfo import ZoneInfo

import numpy as np

from ..config import KIND_CLASSES, Profile
from ..config.rules import RuleConfig, basis_of
from ..track import Track
from ..track.tracker import centre_closeness, iou_matrix
from . import kinds
from .lifecycle import LifecycleEvent, Violation, message, new_violation_id
from .schedule import Schedule
from .tamper import TamperWatch
from .zones import Zone

TAMPER_ZONE = "camera"  # the zone name of camera_tamper violations: the whole picture


def geo_frame(profile: Profile):
    """The local ground frame geofences are measured in: around the first geofence's first point."""
    from ..geo import LocalFrame

    for zone in profile.zones:
        if zone.geo_polygon is not None:
            lat, lon = zone.geo_polygon[0]
            return LocalFrame(lat, lon)
    if profile.node.location is not None:
        return LocalFrame(profile.node.location.lat, profile.node.location.lon)
    return None


def _covered(a, b) -> float:
    """How much of the smaller box lies inside the other: a half-hidden box inside the whole one is 1."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(w * h / max(smaller, 1e-9))


class RuleEngine:
    def __init__(self, profile: Profile, version: str = "0"):
        self.node = profile.node.id
        self.tz = ZoneInfo(profile.node.timezone)
        loc = profile.node.location
        self.location = {"lat": loc.lat, "lon": loc.lon} if loc else None
        self.version = version
        self.frame = geo_frame(profile)
        self.zones = {z.name: Zone.from_config(z, self.frame) for z in profile.zones}
        self.rules = [r for r in profile.rules if r.enabled]
        self.classes = {r.name: r.classes or KIND_CLASSES[r.kind] for r in self.rules}
        self.schedules = {r.name: Schedule.from_config(r.schedule, profile.node.timezone) for r in self.rules}
        self.open: list[Violation] = []
        self._last_spoke: dict[tuple[str, str], float] = {}
        self._size = (1, 1)
        self._ground: dict = {}
        self._memory: dict[str, dict] = {r.name: {} for r in self.rules}  # per rule: e.g. who holds which rod
        self._people = {self.classes[r.name][0] for r in self.rules if r.kind == "fishing"}
        self._watches = {r.name: TamperWatch() for r in self.rules if r.kind == "camera_tamper"}
        self._last_frame: float | None = None
        self._blind = False  # a camera_tamper condition holds this frame: violations are held, not cleared
        self._armed_since: dict[tuple[str, str], float | None] = {}  # (rule, zone) -> armed again at

    # --- commands ---------------------------------------------------------------------------
    def arm_zone(self, name: str, armed: bool, wall: float) -> list[LifecycleEvent]:
        """Arm or disarm a zone (a hub command); disarming clears its open violations."""
        self.zones[name].armed = armed
        if armed:
            return []
        return [e for rule in self.rules if name in rule.zones
                for e in self._close_all(rule, name, wall, reason="disarmed")]

    def armed(self, rule: RuleConfig, wall: float) -> bool:
        return self.schedules[rule.name].armed(wall)

    # --- per frame ------------------------------------------------------------------------------
    def update(self, tracks: list[Track], mono: float, wall: float, size: tuple[int, int],
               ground: dict | None = None, image: np.ndarray | None = None) -> list[LifecycleEvent]:
        """`ground`: track id -> (where it stands, where its holder could stand) as GroundPoints,
        for a camera that knows its pose (geofences, locations in alerts).  `image`: the frame, for
        camera_tamper rules."""
        self._size = size
        self._ground = ground or {}
        self._observe_zones(tracks, mono, size)
        events: list[LifecycleEvent] = []
        gap = None if self._last_frame is None else mono - self._last_frame
        self._last_frame = mono
        for rule in self.rules:  # the picture first: a camera that cannot see clears nothing
            if rule.kind != "camera_tamper":
                continue
            if not self.armed(rule, wall):
                events += self._close_all(rule, TAMPER_ZONE, wall, reason="disarmed")
                continue
            events += self._tamper(rule, image, gap, mono, wall)
        self._blind = any(v.kind == "camera_tamper" and v.last_mono == mono for v in self.open)
        for rule in self.rules:
            if rule.kind == "camera_tamper":
                continue
            rule_armed = self.armed(rule, wall)
            for zone_name in rule.zones:
                zone = self.zones[zone_name]
                if not (rule_armed and zone.armed):
                    self._armed_since[(rule.name, zone_name)] = None
                    events += self._close_all(rule, zone_name, wall, reason="disarmed")
                    continue
                if (rule.name, zone_name) in self._armed_since and self._armed_since[(rule.name, zone_name)] is None:
                    self._armed_since[(rule.name, zone_name)] = mono
                memory = self._memory[rule.name].setdefault(zone_name, {})
                subjects = kinds.subjects(rule.kind, self.classes[rule.name], self._inside(zone), tracks, memory,
                                          basis_of(rule))
                events += self._follow(rule, zone_name, subjects, mono, wall)
        live = {t.id for t in tracks}
        for per_zone in self._memory.values():
            for memory in per_zone.values():
                for key in [k for k in memory if k not in live]:
                    del memory[key]
        return events

    def _observe_zones(self, tracks: list[Track], mono: float, size: tuple[int, int]) -> None:
        live = {t.id for t in tracks}
        for zone in self.zones.values():
            for t in tracks:
                if t.last_seen != mono:  # not seen in this frame: membership stays as it was
                    continue
                accepted = zone.accepts(t.cls, t.box, size)
                if zone.geo is not None:
                    stands, reach = self._ground.get(t.id, (None, None))
                    if stands is None:
                        continue  # no pose for this frame: nothing known
                    zone.observe((t.id, False), accepted and zone.contains_ground(stands.east, stands.north),
                                 mono, t.first_seen)
                    zone.observe((t.id, True), accepted and reach is not None
                                 and zone.contains_ground(reach.east, reach.north), mono, t.first_seen)
                    continue
                zone.observe((t.id, False), accepted and zone.contains(t.box, size), mono, t.first_seen)
                # as gear: where its holder could stand; a person: where hidden feet could be (wading)
                if t.cls in self._people:
                    zone.observe((t.id, True), accepted and zone.contains(kinds.feet_reach(t.box), size),
                                 mono, t.first_seen)
                else:
                    zone.observe((t.id, True), accepted and zone.contains(kinds.holder_reach(t.box), size, anchor="any"),
                                 mono, t.first_seen)
            zone.forget(live)

    @staticmethod
    def _inside(zone: Zone):
        return lambda track, as_gear: zone.membership((track.id, as_gear))

    def _follow(self, rule: RuleConfig, zone: str, subjects: list[kinds.Subject], mono: float,
                wall: float) -> list[LifecycleEvent]:
        events: list[LifecycleEvent] = []
        mine = [v for v in self.open if v.rule.name == rule.name and v.zone == zone]
        taken: set[str] = set()
        # Subjects seen in this frame claim their violations first.  A track the tracker only
        # coasts (its prediction drifting off the object on a moving camera) must not take an
        # angler's violation from the new track that has just found him, leaving him a second one.
        for subject in sorted(subjects, key=lambda s: not s.track.visible):
            violation = self._match(subject, mine, taken, mono, rule)
            if violation is None and not subject.track.visible:
                continue  # a track the detector did not find this frame continues a violation, never starts one
            if violation is None:
                # Standing still is only known after the tracker's window: the situation began when
                # the object stopped, so its dwell does too.
                # Mere presence (a boat, an intruder) began when the subject came into the zone
                # (inertia and track confirmation take a moment to catch up), not before the rule
                # was armed.  Fishing begins when the angler is seen with the rod.
                since = None
                if basis_of(rule) in ("stationary", "loitering"):
                    since = subject.track.still_since
                elif rule.kind != "fishing":  # (fishing on the rod basis)
                    since = self.zones[zone].inside_since((subject.track.id, False))
                    armed = self._armed_since.get((rule.name, zone))
                    if since is not None and armed is not None:
                        since = max(since, armed)
                began = mono if since is None else min(mono, since)
                violation = Violation(new_violation_id(self.node, rule.name, wall, self.tz), rule, zone,
                                      subject.track.cls, began, wall - (mono - began), mono, wall,
                                      subject.track.box)
                self.open.append(violation)
                mine.append(violation)
            taken.add(violation.id)
            violation.last_mono, violation.last_wall = mono, wall
            if any(o.visible for o in subject.objects):
                violation.seen_mono = mono
            violation.box = subject.track.box
            violation.track_ids |= {o.id for o in subject.objects}
            violation.objects = [{"track": o.id, "class": o.cls, "box": list(o.box), "score": round(o.score, 3)}
                                 for o in subject.objects]
            violation.confidence = max(violation.confidence, float(np.mean([o.score for o in subject.objects])))
            stands = self._ground.get(subject.track.id, (None, None))[0]
            if stands is not None:
                violation.ground = stands
                violation.location = {"lat": round(stands.lat, 7), "lon": round(stands.lon, 7),
                                      "uncertainty_m": round(stands.uncertainty_m, 1)}
        for violation in mine:
            events += self._advance(violation, mono, wall, present=violation.id in taken)
        return events

    def _match(self, subject: kinds.Subject, mine: list[Violation], taken: set[str], mono: float,
               rule: RuleConfig) -> Violation | None:
        free = [v for v in mine if v.id not in taken]
        ids = {o.id for o in subject.objects}
        for v in free:  # its own subject's track first: two anglers may have swapped rods
            if subject.track.id in v.track_ids:
                return v
        for v in free:
            if v.track_ids & ids:
                return v
        twin = self._twin(subject, [v for v in mine if v.id in taken], rule)
        if twin is not None:
            return twin
        # The tracker may have given the same object a new id: pick up a violation seen moments ago
        # at the same place with the same class (for fishing any class: the angler and the rod are
        # one situation, and a rod seen alone may be its angler's).
        near = [v for v in free if (v.cls == subject.track.cls or rule.kind == "fishing")
                and mono - v.held_until < rule.clear_after_s]
        if not near:
            return None
        stands = self._ground.get(subject.track.id, (None, None))[0]
        if stands is not None:  # a moving camera: the same place on the ground, seen from elsewhere
            placed = [v for v in near if v.ground is not None]
            if placed:
                best = min(placed, key=lambda v: math.hypot(v.ground.east - stands.east, v.ground.north - stands.north))
                gap = math.hypot(best.ground.east - stands.east, best.ground.north - stands.north)
                if gap <= max(8.0, 2 * math.hypot(best.ground.uncertainty_m, stands.uncertainty_m)):
                    return best
                return None
        box = np.array([subject.track.box])
        boxes = np.array([v.box for v in near])
        score = np.maximum(iou_matrix(boxes, box)[:, 0], centre_closeness(boxes, box)[:, 0] - 0.5)
        best = int(np.argmax(score))
        if score[best] >= 0.3:
            return near[best]
        if rule.kind == "fishing":  # an angler picking up the violation of the rod seen alone, or back
            reach = [v for v in near if kinds.within_reach(v.box, subject.track.box)]
            if reach:
                return min(reach, key=lambda v: mono - v.last_mono)
        return None

    def _twin(self, subject: kinds.Subject, taken: list[Violation], rule: RuleConfig) -> Violation | None:
        """A violation another track took this frame at the very same place: the tracker briefly
        holds two tracks for one object (a half-hidden box, then the whole one), not two offenders.
        For fishing, gear seen alone within reach of an angler taken this frame is that angler's."""
        if rule.kind == "fishing" and subject.track.cls not in self._people:
            stands = self._ground.get(subject.track.id, (None, None))[0]
            for v in taken:
                if v.cls not in self._people:
                    continue
                if stands is not None and v.ground is not None:
                    gap = math.hypot(v.ground.east - stands.east, v.ground.north - stands.north)
                    if gap <= max(4.0, math.hypot(v.ground.uncertainty_m, stands.uncertainty_m)):
                        return v
                elif kinds.within_reach(v.box, subject.track.box):
                    return v
        near = [v for v in taken if v.cls == subject.track.cls]  # this frame's boxes: same picture
        if not near:
            return None
        if rule.kind != "fishing":
            # A track that is already part of a violation another track took this frame is that
            # object's second track (a half box kept from the set-up, a crop's cut box), not a second
            # offender: one bad box of the other track must not split the violation in two.
            # (Fishing keeps its own holder logic: two anglers may share ids after a swap.)
            mine = next((v for v in near if subject.track.id in v.track_ids), None)
            if mine is not None:
                return mine
        overlap = [_covered(v.box, subject.track.box) for v in near]
        best = int(np.argmax(overlap))
        return near[best] if overlap[best] >= 0.8 else None

    def _advance(self, v: Violation, mono: float, wall: float, present: bool) -> list[LifecycleEvent]:
        rule = v.rule
        if present:
            if v.stage == "suspected" and mono - v.started_mono >= rule.dwell_s:
                v.stage, v.warned_mono, v.warned_wall = "warning", mono, wall
                key = (rule.name, v.zone)
                speak = mono - self._last_spoke.get(key, -1e18) >= rule.cooldown_s
                if speak:
                    self._last_spoke[key] = mono
                    v.spoke = True
                return [self._event("warning", v, wall, speak=speak)]
            # The re-check must see it: a parked car kept behind a truck is alerted when it shows again.
            if v.stage == "warning" and mono - v.warned_mono >= rule.recheck_s and v.seen_mono == mono:
                v.stage, v.alerted_wall = "alert", wall
                return [self._event("alert", v, wall, request_evidence=True)]
            return []
        if self._blind:  # the camera is covered or lost: not seeing it is no sign that it left
            v.held_mono = mono
            return []
        if mono - v.held_until < rule.clear_after_s:
            return []
        self.open.remove(v)
        if v.stage == "suspected":
            return []  # ended before its dwell: not a violation
        v.ended_wall = v.last_wall
        v.stage = "cleared"
        return [self._event("cleared", v, wall)]

    def _tamper(self, rule: RuleConfig, image: np.ndarray | None, gap: float | None, mono: float,
                wall: float) -> list[LifecycleEvent]:
        """camera_tamper: the condition lasts dwell_s -> alert (with evidence, no loudspeaker);
        a healthy picture for clear_after_s -> cleared.  A gap in the frames as long as the dwell is
        a lost signal already over its dwell, reported when frames come back."""
        watch = self._watches[rule.name]
        condition = None if image is None else watch.observe(image, mono)
        began = mono
        if condition is None and gap is not None and gap >= max(rule.dwell_s, 2.0):
            condition, began = "signal_lost", mono - gap
        v = next((v for v in self.open if v.rule.name == rule.name), None)
        w, h = self._size
        if condition is None:
            if v is None or mono - v.last_mono < rule.clear_after_s:
                return []
            self.open.remove(v)
            if v.stage == "suspected":
                return []
            v.ended_wall, v.stage = v.last_wall, "cleared"
            return [self._event("cleared", v, wall)]
        if v is None:
            v = Violation(new_violation_id(self.node, rule.name, wall, self.tz), rule, TAMPER_ZONE, condition,
                          began, wall - (mono - began), mono, wall, (0.0, 0.0, float(w), float(h)))
            v.before = None if watch.before is None else watch.before.copy()
            self.open.append(v)
        v.cls, v.last_mono, v.last_wall, v.seen_mono, v.confidence = condition, mono, wall, mono, 1.0
        v.objects = [{"track": 0, "class": condition, "box": [0.0, 0.0, float(w), float(h)], "score": 1.0}]
        if v.stage == "suspected" and mono - v.started_mono >= rule.dwell_s:
            v.stage, v.warned_wall, v.warned_mono, v.alerted_wall = "alert", wall, mono, wall
            return [self._event("alert", v, wall, request_evidence=True)]
        return []

    def _close_all(self, rule: RuleConfig, zone: str, wall: float, reason: str) -> list[LifecycleEvent]:
        events = []
        for v in [v for v in self.open if v.rule.name == rule.name and v.zone == zone]:
            self.open.remove(v)
            if v.stage != "suspected":
                v.ended_wall, v.stage = wall, "cleared"
                events.append(self._event("cleared", v, wall, reason=reason))
        return events

    def close(self, wall: float, reason: str = "shutdown") -> list[LifecycleEvent]:
        """End every open violation (at shutdown or end of input)."""
        events = []
        for rule in self.rules:
            for zone in rule.zones or (TAMPER_ZONE,):
                events += self._close_all(rule, zone, wall, reason)
        return events

    def _event(self, stage: str, v: Violation, wall: float, *, speak: bool = False, request_evidence: bool = False,
               reason: str | None = None) -> LifecycleEvent:
        body = message(v, stage, node=self.node, tz=self.tz, size=self._size, now_wall=wall,
                       location=v.location or self.location, version=self.version, reason=reason)
        return LifecycleEvent(stage, v, body, speak=speak, request_evidence=request_evidence)
