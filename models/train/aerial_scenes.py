"""Random aerial training scenes in the drone scenario format (docs/scenarios.md, "Drone").

Why: the default model was trained on fixed-camera renders only and finds nothing from 40-75 m up,
where a person is 6-10 px.  These scenes fly a drone over the reservoir_aerial site at random heights,
gimbal pitches and headings, over anglers with rods on the bank, people standing, walking and sitting,
boats with crews on the water and trees whose crowns hide some of them, by day and at dusk.  The drone
scenarios shipped in simulator/scenarios/ are the held-out evaluation set: nothing here reads them.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np

from models.train.aerial_site import ORIGIN, PATH, SHORE, WATER, SiteMap
from models.train.scenes import COLORS, Choices, _toml_value
from simulator.aerial.scenario import AerialScenario, validate_aerial

SITE = SiteMap()
HATS = ["auto", "none", "straw", "cap", "bucket"]


class _AerialScene(Choices):
    def __init__(self, rng: np.random.Generator, duration: float):
        super().__init__(rng, duration)
        self.trees: list[dict] = []

    def key(self, t: float, east: float, north: float) -> list[float]:
        return [round(t, 2), *SITE.latlon(east, north)]

    def person(self, path: list[list[float]], **extra) -> dict:
        a = {"id": f"p{len(self.actors)}", "kind": "person", "path": path}
        if self.p(0.6):
            a["shirt"] = self.pick(COLORS)
        if self.p(0.4):
            a["pants"] = self.pick(COLORS)
        a["hat"] = self.pick(HATS)
        a.update(extra)
        self.actors.append(a)
        return a

    def tree_over(self, east: float, north: float) -> None:
        """A crown over (east, north), sometimes off-centre: it hides all or part of who is there."""
        r = self.u(1.8, 4.0)
        d = self.u(0, r * 0.9)
        a = self.u(0, 2 * math.pi)
        self.trees.append({"at": list(SITE.latlon(east + d * math.cos(a), north + d * math.sin(a))),
                           "radius_m": round(r, 2), "height_m": round(self.u(4, 9), 1)})


def _angler(s: _AerialScene, east: float) -> tuple[float, float]:
    n = SITE.waterline(east) - s.u(0.6, 5.0)
    rod = [[0, s.dur]] if s.p(0.75) else [[round(s.u(0, s.dur * 0.5), 1), round(s.u(s.dur * 0.6, s.dur), 1)]]
    extra: dict = {"rod": rod, "pose": "sit" if s.p(0.35) else "stand"}
    if s.p(0.3):
        extra["rod_heading_deg"] = round(s.u(-30, 30), 1)  # roughly north: over the water, not square to it
    s.person([s.key(0, east, n)], **extra)
    return east, n


def _bank_people(s: _AerialScene, centre: float, spread: float) -> None:
    for _ in range(int(s.rng.integers(1, 7))):
        e = centre + s.u(-spread, spread)
        kind = s.pick(["walk_path", "walk_path", "stand_bank", "sit_bank", "to_water", "walk_land"])
        wl, pn = SITE.waterline(e), SITE.path_north(e)
        if kind == "walk_path":
            d = s.u(15, 45) * s.pick([-1, 1])
            t0 = s.u(-s.dur * 0.5, s.dur * 0.3)
            a, b = max(t0, 0.0), min(t0 + s.dur, s.dur)
            e0 = e + d * (a - t0) / s.dur
            e1 = e + d * (b - t0) / s.dur
            off = s.u(-0.8, 0.8)
            s.person([s.key(a, e0, SITE.path_north(e0) + off), s.key(b, e1, SITE.path_north(e1) + off)])
            if s.p(0.2):
                s.tree_over((e0 + e1) / 2, pn)
        elif kind in ("stand_bank", "sit_bank"):
            n = s.u(pn + 2, wl - 0.5)
            s.person([s.key(0, e, n)], pose="sit" if kind == "sit_bank" else "stand",
                     facing_deg=round(s.u(0, 360), 1))
        elif kind == "to_water":
            s.person([s.key(0, e, pn), s.key(s.u(8, s.dur), e + s.u(-4, 4), wl - s.u(0.5, 2))])
        else:  # on the grass south of the path
            n = pn - s.u(3, 25)
            s.person([s.key(0, e, n), s.key(s.dur, e + s.u(-20, 20), n + s.u(-8, 8))])


def _boats(s: _AerialScene, centre: float, spread: float, count: int) -> None:
    for _ in range(count):
        e = centre + s.u(-spread, spread)
        n = SITE.waterline(e) + s.u(4, 80)
        b = {"id": f"b{len(s.actors)}", "kind": "boat", "style": s.pick(["auto", "skiff", "rowing"]),
             "crew": int(s.rng.integers(0, 5))}
        if s.p(0.5):
            b["color"] = s.pick(COLORS)
        if s.p(0.5):  # moving
            d, a = s.u(10, 40), s.u(0, 2 * math.pi)
            e1, n1 = e + d * math.cos(a), max(n + d * math.sin(a), SITE.waterline(e + d * math.cos(a)) + 4)
            b["path"] = [s.key(0, e, n), s.key(s.dur, e1, n1)]
        else:
            b["path"] = [s.key(0, e, n)]
            b["heading_deg"] = round(s.u(0, 360), 1)
        if s.p(0.2):  # pulled up at the bank
            b["path"] = [s.key(0, e, SITE.waterline(e) + s.u(0.5, 2))]
            b["crew"] = 0
        s.actors.append(b)


def _flight(s: _AerialScene, target: tuple[float, float]) -> list[list[float]]:
    """Two keyframes: the camera on `target` at a random height, pitch and heading, then a drift."""
    alt = s.u(40, 75)
    pitch = -s.u(40, 88) if s.p(0.8) else -s.u(85, 90)
    heading = s.u(0, 360)
    dist = alt / math.tan(math.radians(-pitch)) * s.u(0.6, 1.3)
    h = math.radians(heading)
    e0, n0 = target[0] - dist * math.sin(h), target[1] - dist * math.cos(h)
    move, ang = s.u(0, 35), s.u(0, 2 * math.pi)
    e1, n1 = e0 + move * math.cos(ang), n0 + move * math.sin(ang)
    keys = [[0.0, *SITE.latlon(e0, n0), round(alt, 1), round(heading, 1), round(pitch, 1)],
            [s.dur, *SITE.latlon(e1, n1), round(min(max(alt + s.u(-5, 5), 40), 75), 1),
             round((heading + s.u(-40, 40)) % 360, 1), round(min(max(pitch + s.u(-6, 6), -90), -38), 1)]]
    return keys


def random_aerial_scene(seed: int, duration_s: float = 20.0) -> dict:
    """A random drone scene (dict in the scenario format, validated by to_scenario)."""
    rng = np.random.default_rng([seed, 7])
    s = _AerialScene(rng, duration_s)
    lighting = "dusk" if s.p(0.35) else "day"
    lo, hi = SITE.east_range
    centre = s.u(lo + 40, hi - 40)
    focus = s.pick(["bank", "bank", "bank", "water", "path"])
    if focus != "water" or s.p(0.5):
        for _ in range(int(rng.integers(0, 4)) if s.p(0.85) else 0):
            east, north = _angler(s, centre + s.u(-35, 35))
            if s.p(0.25):
                s.tree_over(east, north)
    _bank_people(s, centre, 45)
    _boats(s, centre, 50, int(rng.integers(1, 4)) if focus == "water" else int(rng.integers(0, 3)))
    wl = SITE.waterline(centre)
    target = {"bank": (centre, wl - 4), "water": (centre, wl + s.u(15, 60)),
              "path": (centre, SITE.path_north(centre) - s.u(0, 15))}[focus]
    if lighting == "day":
        start = datetime(2026, 5, 1, tzinfo=timezone(timedelta(hours=8))) + timedelta(hours=s.u(8, 16.5))
    else:
        start = datetime(2026, 5, 1, 18, 25, tzinfo=timezone(timedelta(hours=8))) + timedelta(minutes=s.u(0, 25))
    data: dict = {
        "scenario": {"name": f"aerial_train_{seed:06d}", "description": "random aerial training scene",
                     "site": "reservoir_aerial", "seed": int(seed), "duration_s": duration_s, "fps": 5,
                     "size": [1280, 720], "start": start.replace(microsecond=0), "lighting": lighting},
        "camera": {"noise": round(s.u(1.0, 10.0), 1)} if s.p(0.5) else {},
        "world": {"origin": list(ORIGIN), "water": [list(p) for p in WATER], "shore": [list(p) for p in SHORE],
                  "path": [list(p) for p in PATH], "clutter": round(s.u(0.3, 2.0), 2), "trees": s.trees},
        "drone": {"hfov_deg": round(s.u(70, 84), 1), "path": _flight(s, target)},
        "actors": s.actors,
    }
    if s.p(0.15):
        data["light_changes"] = [{"start_s": 0.0, "end_s": duration_s, "gain": round(s.u(0.6, 1.3), 2),
                                  "ramp_s": 0.0}]
    return data


def to_aerial_scenario(data: dict, source: str = "<random aerial>") -> AerialScenario:
    return validate_aerial(data, source)


def _value(v) -> str:
    if isinstance(v, dict):  # inline table (world.trees)
        return "{ " + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list | tuple) and any(isinstance(x, dict) for x in v):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return _toml_value(v)


def to_aerial_toml(data: dict) -> str:
    """Serialise a scene dict as a drone scenario TOML file."""
    lines = ["# Random aerial training scene; generated by models.train.aerial_scenes.",
             "# Training data only: no ground truth intervals.", ""]
    for table in ("scenario", "camera", "world", "drone"):
        lines.append(f"[{table}]")
        lines += [f"{k} = {_value(v)}" for k, v in data[table].items()]
        lines.append("")
    for arr in ("light_changes", "actors"):
        for item in data.get(arr, []):
            lines.append(f"[[{arr}]]")
            lines += [f"{k} = {_value(v)}" for k, v in item.items()]
            lines.append("")
    return "\n".join(lines)
