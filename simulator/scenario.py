"""Scenario TOML files: pydantic models (unknown keys rejected) and one-line-per-problem errors.

A scenario scripts what the simulated camera sees (site, lighting, actors on keyframe paths, occluders)
and what the product must report about it (`[[truth]]` intervals).  docs/scenarios.md is the reference.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
)

from simulator.conditions import CameraFault, Crowd, OracleScore, Weather
from simulator.palette import parse_color

SITE_NAMES = ("reservoir", "market")
TRUTH_KINDS = ("fishing", "boat_intrusion", "stall", "parking", "intrusion", "camera_tamper")
ACTOR_KINDS = ("person", "boat", "stall", "cart", "vehicle", "rod_stand", "motorbike")
OCCLUDER_KINDS = ("tree", "lamp_post", "reeds", "bicycle", "bollard", "bench", "sign", "bush", "bin")
# Zone names a truth interval may use, per site: the product's zone names first, then plain regions.
TRUTH_ZONES = {
    "reservoir": ("shore", "water", "path"),
    "market": ("no_stall", "fire_lane", "road", "far_sidewalk", "market_area", "parking_bays",
               "near_sidewalk"),
}
SCENARIO_DIR = Path(__file__).with_name("scenarios")


class ScenarioError(Exception):
    """A scenario file is unreadable or invalid; str() is one `PATH: field.path: problem` line each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def _color(v: str) -> str:
    parse_color(v)
    return v


ColorName = Annotated[str, AfterValidator(_color)]
Keyframe = tuple[float, float, float]
Interval = tuple[float, float]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Meta(_Model):
    name: str = Field(min_length=1)
    description: str = ""
    site: Literal["reservoir", "market"]
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    duration_s: float = Field(gt=0, le=3600)
    fps: float = Field(default=5.0, gt=0, le=60)
    size: tuple[int, int] = (1280, 720)
    start: datetime
    lighting: Literal["day", "dusk", "night"] = "day"

    @field_validator("size")
    @classmethod
    def _even(cls, v: tuple[int, int]) -> tuple[int, int]:
        w, h = v
        if w % 2 or h % 2:
            raise ValueError(f"width and height must be even numbers (H.264), got {w}x{h}")
        if not (160 <= w <= 3840 and 120 <= h <= 2160):
            raise ValueError(f"must be between 160x120 and 3840x2160, got {w}x{h}")
        return v

    @field_validator("start")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None or v.utcoffset() is None:
            raise ValueError("needs a UTC offset, e.g. 2026-04-10T09:00:00+08:00")
        return v


class Camera(_Model):
    noise: float | None = Field(default=None, ge=0, le=40)
    shake_px: float = Field(default=1.0, ge=0, le=8)


class LightChange(_Model):
    start_s: float = Field(ge=0)
    end_s: float = Field(gt=0)
    gain: float = Field(gt=0.05, le=3)
    ramp_s: float = Field(default=5.0, ge=0)


def _check_path(v: list[Keyframe]) -> list[Keyframe]:
    if not v:
        raise ValueError("needs at least 1 keyframe")
    for i, (t, x, y) in enumerate(v):
        if t < 0:
            raise ValueError(f"keyframe {i}: time {t:g} is negative")
        if not (-0.6 <= x <= 1.6):
            raise ValueError(f"keyframe {i}: x {x:g} is outside -0.6..1.6")
        if not (0.0 <= y <= 1.5):
            raise ValueError(f"keyframe {i}: y {y:g} is outside 0..1.5")
        if i and t <= v[i - 1][0]:
            raise ValueError(f"keyframe times must increase: keyframe {i} (t={t:g}) is not after t={v[i - 1][0]:g}")
    return v


def _check_intervals(v: list[Interval]) -> list[Interval]:
    for i, (a, b) in enumerate(v):
        if not 0 <= a < b:
            raise ValueError(f"interval {i} [{a:g}, {b:g}]: needs 0 <= start < end")
        if i and a < v[i - 1][1]:
            raise ValueError(f"interval {i} starts before interval {i - 1} ends")
    return v


class _Actor(_Model):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]+$", max_length=64)
    path: Annotated[list[Keyframe], AfterValidator(_check_path)]
    scale: float = Field(default=1.0, ge=0.3, le=3.0)


class PersonActor(_Actor):
    kind: Literal["person"]
    pose: Literal["stand", "sit"] = "stand"
    facing: Literal["auto", "left", "right", "away", "toward"] = "auto"
    rod: Annotated[list[Interval], AfterValidator(_check_intervals)] = []
    rod_side: Literal["auto", "left", "right"] = "auto"
    shirt: ColorName | None = None
    pants: ColorName | None = None
    hat: Literal["auto", "none", "straw", "cap", "bucket", "helmet"] = "auto"
    bag: Literal["auto", "none", "backpack", "shoulder"] = "auto"
    height_m: float | None = Field(default=None, ge=1.0, le=2.1)
    # Where the rod points: across the picture (side), toward the camera or away from it (foreshortened).
    rod_aim: Literal["side", "toward", "away"] = "side"
    # Times the rod is carried packed (a rod bag on the back: not a rod at hand, not labelled).
    packed_rod: Annotated[list[Interval], AfterValidator(_check_intervals)] = []
    # Standing in the water this deep: the legs are hidden below the waterline.
    wading_depth_m: float = Field(default=0.0, ge=0, le=1.2)
    # An angler's umbrella or tent beside them (scenery: hides what is behind it, not labelled).
    shelter: Literal["none", "umbrella", "tent"] = "none"


class BoatActor(_Actor):
    kind: Literal["boat"]
    style: Literal["auto", "skiff", "rowing", "cabin", "canopy"] = "auto"
    color: ColorName | None = None
    crew: int | None = Field(default=None, ge=0, le=4)
    length_m: float | None = Field(default=None, ge=2.5, le=10)
    facing: Literal["auto", "left", "right"] = "auto"
    lamp: Literal["auto", "on", "off"] = "auto"


class StallActor(_Actor):
    kind: Literal["stall"]
    style: Literal["auto", "umbrella", "canopy", "plain"] = "auto"
    goods: Literal["auto", "fruit", "vegetables", "clothes", "snacks", "mixed"] = "auto"
    color: ColorName | None = None
    width_m: float | None = Field(default=None, ge=1.0, le=4.0)
    setup_s: float = Field(default=30.0, ge=0)
    teardown_s: float = Field(default=30.0, ge=0)


class CartActor(_Actor):
    kind: Literal["cart"]
    rider: Literal["always", "moving", "none"] = "always"
    cargo: Literal["auto", "boxes", "sacks", "produce", "cylinders", "empty"] = "auto"
    color: ColorName | None = None
    roof: bool | None = None
    facing: Literal["auto", "left", "right"] = "auto"


class VehicleActor(_Actor):
    kind: Literal["vehicle"]
    style: Literal["auto", "car", "suv", "van", "truck"] = "auto"
    color: ColorName | None = None
    facing: Literal["auto", "left", "right"] = "auto"
    lights: Literal["auto", "on", "off"] = "auto"


class RodStandActor(_Actor):
    """A rod on a stand (a tripod or a forked stick) with nobody near it: labelled fishing_rod."""

    kind: Literal["rod_stand"]
    facing: Literal["left", "right"] = "left"


class MotorbikeActor(_Actor):
    """A motorbike or scooter (class vehicle) with its rider (class person) while it moves."""

    kind: Literal["motorbike"]
    style: Literal["auto", "motorbike", "scooter"] = "auto"
    color: ColorName | None = None
    rider: Literal["always", "moving", "none"] = "always"
    facing: Literal["auto", "left", "right"] = "auto"
    lights: Literal["auto", "on", "off"] = "auto"


Actor = Annotated[PersonActor | BoatActor | StallActor | CartActor | VehicleActor | RodStandActor | MotorbikeActor,
                  Field(discriminator="kind")]


class Occluder(_Model):
    kind: Literal["tree", "lamp_post", "reeds", "bicycle", "bollard", "bench", "sign", "bush", "bin"]
    x: float = Field(ge=-0.2, le=1.2)
    y: float = Field(ge=0.0, le=1.3)
    scale: float = Field(default=1.0, ge=0.3, le=3.0)
    id: str | None = None


class Truth(_Model):
    kind: Literal["fishing", "boat_intrusion", "stall", "parking", "intrusion", "camera_tamper"]
    zone: str
    start_s: float = Field(ge=0)
    end_s: float = Field(gt=0)
    actors: list[str] = []  # who commits it; camera_tamper names none
    note: str = ""


class ScenarioFacts:
    """The [scenario] fields as properties, shared by every kind of scenario (fixed camera, drone)."""

    @property
    def source(self) -> str:
        return self._source

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def site(self) -> str:
        return self.meta.site

    @property
    def seed(self) -> int:
        return self.meta.seed

    @property
    def fps(self) -> float:
        return self.meta.fps

    @property
    def duration_s(self) -> float:
        return self.meta.duration_s

    @property
    def size(self) -> tuple[int, int]:
        return self.meta.size

    @property
    def start(self) -> datetime:
        return self.meta.start

    @property
    def lighting(self) -> str:
        return self.meta.lighting

    @property
    def n_frames(self) -> int:
        return max(1, int(round(self.duration_s * self.fps)))

    def actor(self, actor_id: str):
        for a in self.actors:
            if a.id == actor_id:
                return a
        raise KeyError(actor_id)


class Scenario(ScenarioFacts, _Model):
    """A validated scenario; the frequently used [scenario] fields are also properties."""

    meta: Meta = Field(alias="scenario")
    camera: Camera = Camera()
    light_changes: list[LightChange] = []
    actors: list[Actor] = []
    occluders: list[Occluder] = []
    weather: Weather = Weather()
    camera_faults: list[CameraFault] = []
    crowds: list[Crowd] = []
    oracle: list[OracleScore] = []
    truth: list[Truth] = []
    _source: str = PrivateAttr(default="<scenario>")

    def all_actors(self) -> list:
        """The actors, then the walkers of every crowd (ids `<crowd>-<n>`)."""
        extra = [PersonActor.model_validate(a) for c in self.crowds for a in c.actors(self.duration_s)]
        return [*self.actors, *extra]


def lifetime(path: list[Keyframe], duration_s: float) -> tuple[float, float]:
    """When an actor exists: first to last keyframe; a single keyframe lasts to the scenario's end."""
    return (path[0][0], path[-1][0] if len(path) > 1 else duration_s)


# ---------------------------------------------------------------- errors

_KIND_MODELS = {"person": PersonActor, "boat": BoatActor, "stall": StallActor, "cart": CartActor,
                "vehicle": VehicleActor, "rod_stand": RodStandActor, "motorbike": MotorbikeActor}


def _keys_at(loc: tuple, root: Any = None, kinds: dict | None = None) -> list[str]:
    """The keys allowed in the table that holds loc[-1] (for 'did you mean' hints).

    root and kinds default to the ground scenario; the aerial format passes its own models.
    """
    model: Any = root or Scenario
    kinds = kinds or _KIND_MODELS
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if model == "actor":
            model = kinds.get(part)
            continue
        if model is None:
            return []
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        if field is None:
            return []
        ann = field.annotation
        while get_args(ann) and get_origin(ann) is not Literal:
            if any(a in kinds.values() for a in get_args(ann)):
                ann = "actor"
                break
            ann = next((a for a in get_args(ann) if a is not type(None)), None)
        model = ann if ann == "actor" or (isinstance(ann, type) and issubclass(ann, BaseModel)) else None
    if model is None or model == "actor":
        return []
    return [f.alias or n for n, f in model.model_fields.items()]


def _loc(loc: tuple) -> str:
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif i >= 2 and loc[i - 2] == "actors" and isinstance(loc[i - 1], int) and part in ACTOR_KINDS:
            continue  # pydantic's discriminator tag, not a key the user wrote
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _message(err: dict, root: Any = None, kinds: dict | None = None) -> tuple[str, str]:
    loc, typ, msg = _loc(err["loc"]), err["type"], err["msg"]
    names = ", ".join(kinds or _KIND_MODELS)
    if typ == "extra_forbidden":
        key = str(err["loc"][-1])
        close = difflib.get_close_matches(key, _keys_at(err["loc"], root, kinds), n=1)
        msg = "unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")
    elif typ == "missing":
        msg = "required"
    elif typ == "union_tag_invalid":
        loc += ".kind"
        msg = f"unknown kind {err['input'].get('kind')!r} (use one of: {names})"
    elif typ == "union_tag_not_found":
        loc += ".kind"
        msg = f"required (one of: {names})"
    else:
        msg = msg.removeprefix("Value error, ")
        if typ in ("literal_error", "greater_than", "greater_than_equal", "less_than", "less_than_equal",
                   "string_pattern_mismatch"):
            msg += f", got {err['input']!r}"
    return loc, msg


def _cross_checks(sc: Scenario) -> list[tuple[str, str]]:
    """Problems that involve more than one field; pydantic has already checked each field alone."""
    out, seen = actor_problems(sc, PersonActor)
    for i, a in enumerate(sc.actors):
        if isinstance(a, StallActor):
            life = lifetime(a.path, sc.duration_s)
            busy = a.setup_s + (a.teardown_s if len(a.path) > 1 else 0.0)
            if busy > life[1] - life[0]:
                out.append((f"actors[{i}].setup_s",
                            f"setup_s + teardown_s ({busy:g}) is longer than the stall exists ({life[1] - life[0]:g} s)"))
    for i, c in enumerate(sc.crowds):
        if any(a.id.startswith(f"{c.id}-") for a in sc.actors):
            out.append((f"crowds[{i}].id", f"actor ids starting {c.id + '-'!r} would clash with the crowd's walkers"))
    for i, o in enumerate(sc.oracle):
        if o.actor.removesuffix(".rod") not in seen:
            out.append((f"oracle[{i}].actor", f"unknown actor {o.actor!r}"))
    out += timeline_problems(sc, TRUTH_ZONES[sc.site], f"a zone of site {sc.site}", seen)
    return out


def actor_problems(sc, person_type: type) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """Duplicate actor ids, keyframes after the end, rods outside their person's lifetime (any kind of
    scenario); also returns the actor ids with their index."""
    out: list[tuple[str, str]] = []
    dur = sc.duration_s
    seen: dict[str, int] = {}
    for i, a in enumerate(sc.actors):
        if a.id in seen:
            out.append((f"actors[{i}].id", f"duplicate id {a.id!r} (also actors[{seen[a.id]}])"))
        seen.setdefault(a.id, i)
        for j, (t, *_where) in enumerate(a.path):
            if t > dur:
                out.append((f"actors[{i}].path[{j}]", f"time {t:g} is after the scenario ends (duration_s = {dur:g})"))
        if isinstance(a, person_type):
            life = lifetime(a.path, dur)
            for j, (s, e) in enumerate(a.rod):
                if s < life[0] or e > life[1]:
                    out.append((f"actors[{i}].rod[{j}]",
                                f"[{s:g}, {e:g}] is outside the actor's lifetime [{life[0]:g}, {life[1]:g}]"))
    return out, seen


def timeline_problems(sc, zones, zone_kind: str, seen: dict[str, int]) -> list[tuple[str, str]]:
    """Light changes and ground truth against the scenario's length, its zones and its actors (any kind
    of scenario; `seen` maps actor ids to their index)."""
    out: list[tuple[str, str]] = []
    dur = sc.duration_s
    for i, lc in enumerate(sc.light_changes):
        if lc.end_s <= lc.start_s:
            out.append((f"light_changes[{i}].end_s", f"must be after start_s ({lc.start_s:g}), got {lc.end_s:g}"))
    for i, tr in enumerate(sc.truth):
        if tr.end_s <= tr.start_s:
            out.append((f"truth[{i}].end_s", f"must be after start_s ({tr.start_s:g}), got {tr.end_s:g}"))
        if tr.end_s > dur:
            out.append((f"truth[{i}].end_s", f"{tr.end_s:g} is after the scenario ends (duration_s = {dur:g})"))
        if tr.kind == "camera_tamper":
            if tr.zone != "camera":
                out.append((f"truth[{i}].zone", "a camera_tamper truth is about the whole picture: zone \"camera\""))
            if tr.actors:
                out.append((f"truth[{i}].actors", "a camera_tamper truth names no actors"))
            continue
        if not tr.actors:
            out.append((f"truth[{i}].actors", "needs at least one actor"))
        if tr.zone not in zones:
            out.append((f"truth[{i}].zone", f"{tr.zone!r} is not {zone_kind} (use one of: {', '.join(zones)})"))
        for j, aid in enumerate(tr.actors):
            if aid not in seen:
                out.append((f"truth[{i}].actors[{j}]", f"unknown actor {aid!r}"))
                continue
            life = lifetime(sc.actors[seen[aid]].path, dur)
            if life[1] < tr.start_s or life[0] > tr.end_s:
                out.append((f"truth[{i}].actors[{j}]",
                            f"actor {aid!r} exists only during [{life[0]:g}, {life[1]:g}], not in [{tr.start_s:g}, {tr.end_s:g}]"))
    return out


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Parse and validate TOML text; raise ScenarioError listing every problem found."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
        where = f"line {m.group(1)}, column {m.group(2)}" if m else "line ?"
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(e)) if m else str(e)
        raise ScenarioError([f"{source}: {where}: invalid TOML: {reason}"]) from None
    return validate_scenario(data, source)


def validate_scenario(data: dict[str, Any], source: str = "<scenario>") -> Scenario:
    """A validated scenario; a drone scenario (see simulator.aerial) becomes an AerialScenario."""
    from simulator.aerial import is_aerial_data

    if is_aerial_data(data):
        from simulator.aerial.scenario import validate_aerial

        return validate_aerial(data, source)
    return validated(Scenario, data, source, _cross_checks)


def validated(model, data: dict[str, Any], source: str, cross_checks, kinds: dict | None = None):
    """`model` validated from `data`, then its cross-field checks; every problem as one ScenarioError."""
    try:
        sc = model.model_validate(data)
    except ValidationError as e:
        problems = [f"{source}: {loc}: {msg}" for loc, msg in
                    (_message(err, model, kinds) for err in e.errors())]
        raise ScenarioError(problems) from None
    cross = cross_checks(sc)
    if cross:
        raise ScenarioError([f"{source}: {loc}: {msg}" for loc, msg in cross])
    sc._source = source
    return sc


def find_scenario(name: str | Path) -> Path:
    """A scenario path as given, or the name of a shipped scenario (with or without .toml)."""
    p = Path(name)
    if p.exists():
        return p
    for cand in (SCENARIO_DIR / p.name, SCENARIO_DIR / f"{p.name}.toml"):
        if cand.exists():
            return cand
    return p


def shipped_scenarios(aerial: bool | None = False) -> list[Path]:
    """Shipped scenario files: the fixed-camera ones (default), the drone ones (aerial=True) or all (None).

    Drone scenarios (`drone_*.toml`) need a drone profile to score, so they are not in the default list.
    """
    paths = sorted(SCENARIO_DIR.glob("*.toml"))
    if aerial is None:
        return paths
    return [p for p in paths if p.stem.startswith("drone_") == aerial]


def load_scenario(path: str | Path) -> Scenario:
    """Load a scenario file (or a shipped scenario by name); raise ScenarioError on any problem."""
    p = find_scenario(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ScenarioError([f"{path}: (file): cannot read: {e.strerror or e}"]) from None
    except UnicodeDecodeError as e:
        raise ScenarioError([f"{path}: (file): not UTF-8 text: {e.reason}"]) from None
    return parse_scenario(text, str(path))
