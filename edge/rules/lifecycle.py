"""Violations and their tiered lifecycle.

suspected -> (dwell_s) warning: the loudspeaker warns -> (recheck_s, still there) alert: the hub is
told and evidence is kept -> (gone clear_after_s) cleared.  A violation that ends after its warning
never becomes an alert: warn first, report only what persists.  A suspected situation that ends
before its dwell is forgotten without a message.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from ..config.rules import RuleConfig, basis_of

Box = tuple[float, float, float, float]
STAGES = ("warning", "alert", "cleared")
_counter = itertools.count(1)


def new_violation_id(node: str, rule: str, wall: float, tz: ZoneInfo) -> str:
    stamp = datetime.fromtimestamp(wall, tz).strftime("%Y%m%dT%H%M%S")
    return f"{node}-{rule}-{stamp}-{next(_counter)}{secrets.token_hex(2)}"


def iso(wall: float | None, tz: ZoneInfo) -> str | None:
    if wall is None:
        return None
    return datetime.fromtimestamp(wall, tz).isoformat(timespec="milliseconds")


@dataclass
class Violation:
    id: str
    rule: RuleConfig
    zone: str
    cls: str  # class of the subject
    started_mono: float
    started_wall: float
    last_mono: float  # last time the situation was seen
    last_wall: float
    box: Box  # last box of the subject, in frame pixels
    track_ids: set[int] = field(default_factory=set)
    objects: list[dict] = field(default_factory=list)
    confidence: float = 0.0
    stage: str = "suspected"
    warned_wall: float | None = None
    warned_mono: float | None = None
    alerted_wall: float | None = None
    ended_wall: float | None = None
    spoke: bool = False  # the automatic warning played for this violation
    ground: object | None = None  # where the subject stands (GroundPoint), for a camera that knows its pose
    location: dict | None = None  # {"lat", "lon", "uncertainty_m"} of the subject
    seen_mono: float | None = None  # last frame in which one of its objects was seen, not just kept
    before: object | None = None  # camera_tamper: the last healthy frame (the "before" snapshot)
    held_mono: float | None = None  # last frame it was held while the camera could not see (tamper)

    @property
    def held_until(self) -> float:
        """Seen or held last: what clear_after_s counts from."""
        return self.last_mono if self.held_mono is None else max(self.last_mono, self.held_mono)

    @property
    def kind(self) -> str:
        return self.rule.kind


@dataclass(frozen=True)
class LifecycleEvent:
    stage: str  # warning | alert | cleared
    violation: Violation
    message: dict
    speak: bool = False  # warning: play the rule's clip (not within the cooldown)
    request_evidence: bool = False  # alert: cut the clip and take snapshots


def message(v: Violation, stage: str, *, node: str, tz: ZoneInfo, size: tuple[int, int], now_wall: float,
            location: dict | None, version: str, reason: str | None = None) -> dict:
    """The alert-contract payload for one lifecycle stage."""
    w, h = size
    body = {
        "id": v.id,
        "node": node,
        "rule": v.rule.name,
        "kind": v.kind,
        "basis": basis_of(v.rule),
        "stage": stage,
        "zone": v.zone,
        "started_at": iso(v.started_wall, tz),
        "warned_at": iso(v.warned_wall, tz),
        "confirmed_at": iso(v.alerted_wall, tz),
        "ended_at": iso(v.ended_wall, tz),
        "ts": iso(now_wall, tz),
        "objects": [
            {**o, "box": [round(o["box"][0] / w, 4), round(o["box"][1] / h, 4), round(o["box"][2] / w, 4),
                          round(o["box"][3] / h, 4)]}
            for o in v.objects
        ],
        "confidence": round(v.confidence, 3),
        "location": location,
        "snapshot": None,
        "evidence": None,
        "version": version,
    }
    if reason:
        body["reason"] = reason
    return body
