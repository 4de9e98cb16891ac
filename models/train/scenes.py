"""Random training scenes in the documented scenario format (docs/scenarios.md).

Why: the 12 shipped scenarios are the held-out evaluation set, so training data comes from scenes
generated here: every site, lighting, camera noise/shake and actor kind, placed in the site's regions
(anglers with rods on the shore band, boats on the water, stalls/carts/vehicles/pedestrians on the
street), plus occluders and look-alikes, each scene with its own seed (a new look every time).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from simulator.scenario import Scenario, validate_scenario

X_MIN, X_MAX = -0.6, 1.6
COLORS = ["black", "white", "grey", "silver", "darkgrey", "red", "darkred", "orange", "yellow", "green",
          "darkgreen", "olive", "blue", "lightblue", "navy", "teal", "purple", "pink", "brown", "beige",
          "khaki", "wood", "cream"]


class Choices:
    """The random choices every scene generator makes (fixed-camera and aerial), all from `rng`."""

    def __init__(self, rng: np.random.Generator, duration: float):
        self.rng = rng
        self.dur = duration
        self.actors: list[dict] = []

    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def p(self, prob: float) -> bool:
        return bool(self.rng.random() < prob)

    def pick(self, items):
        return items[int(self.rng.integers(len(items)))]


class _Scene(Choices):
    """Collects actors and occluders for one scene; `rng` drives every choice."""

    def __init__(self, rng: np.random.Generator, duration: float):
        super().__init__(rng, duration)
        self.occluders: list[dict] = []

    def add(self, kind: str, path: list, **kw) -> dict:
        a = {"id": f"{kind}{len(self.actors)}", "kind": kind, "path": path}
        if self.p(0.5):
            a["scale"] = round(self.u(0.85, 1.15), 3)
        a.update({k: v for k, v in kw.items() if v is not None})
        self.actors.append(a)
        return a

    def still(self, x: float, y: float, t0: float = 0.0, t1: float | None = None) -> list:
        """A standing path: from t0 to t1 (or to the end) at (x, y)."""
        t1 = self.dur if t1 is None else t1
        return [[round(t0, 2), round(x, 4), round(y, 4)], [round(t1, 2), round(x, 4), round(y, 4)]]

    def moving(self, y: float, speed: float, vy: float = 0.0) -> list:
        """A straight walk/drive through the frame at `speed` (frame widths/s), visible at a random time."""
        d = 1 if self.p(0.5) else -1
        vx = d * speed
        tr, xr = self.u(0, self.dur), self.u(-0.1, 1.1)  # where it is at a random reference time
        ta, tb = 0.0, self.dur
        if vx:
            ta = max(ta, tr - (xr - (X_MIN if vx > 0 else X_MAX)) / vx)
            tb = min(tb, tr + ((X_MAX if vx > 0 else X_MIN) - xr) / vx)
        if vy:
            lim_a, lim_b = (0.0, 1.5) if vy > 0 else (1.5, 0.0)
            ta = max(ta, tr - (y - lim_a) / vy)
            tb = min(tb, tr + (lim_b - y) / vy)
        ta, tb = ta + 1e-3, tb - 1e-3
        if tb - ta < 0.5:
            ta, tb = max(0.0, tr - 0.5), min(self.dur, tr + 0.5)
        pts = [[ta, xr + vx * (ta - tr), y + vy * (ta - tr)], [tb, xr + vx * (tb - tr), y + vy * (tb - tr)]]
        return [[round(t, 3), round(float(np.clip(x, X_MIN, X_MAX)), 4), round(float(np.clip(yy, 0, 1.5)), 4)]
                for t, x, yy in pts]

    def person(self, path: list, **kw) -> dict:
        r = self
        look = {"hat": r.pick(["auto", "auto", "none", "straw", "cap", "bucket", "helmet"]),
                "bag": r.pick(["auto", "auto", "none", "backpack", "shoulder"])}
        if r.p(0.3):
            look["shirt"] = r.pick(COLORS)
        if r.p(0.3):
            look["pants"] = r.pick(COLORS)
        if r.p(0.12):
            look["height_m"] = round(r.u(1.05, 1.4), 2)  # children
        look.update(kw)
        return self.add("person", path, **look)

    def occluder(self, kind: str, x: float, y: float) -> None:
        o = {"kind": kind, "x": round(x, 4), "y": round(y, 4)}
        if self.p(0.4):
            o["scale"] = round(self.u(0.7, 1.4), 3)
        self.occluders.append(o)


def _angler(s: _Scene, y_lo: float = 0.61, y_hi: float = 0.76) -> None:
    """A person on the bank with a rod out over the water for all or part of the clip (or none)."""
    x, y = s.u(0.02, 0.98), s.u(y_lo, y_hi)
    t0 = 0.0 if s.p(0.8) else s.u(0, s.dur * 0.5)
    rod = []
    r = s.rng.random()
    if r < 0.7:
        rod = [[round(t0, 2), round(s.dur, 2)]]
    elif r < 0.9:
        a = s.u(t0, s.dur - 2)
        rod = [[round(a, 2), round(s.u(a + 1, s.dur), 2)]]
    s.person(s.still(x, y, t0), pose="sit" if s.p(0.4) else "stand",
             facing=s.pick(["auto", "auto", "away", "left", "right", "toward"]),
             rod=rod, rod_side=s.pick(["auto", "left", "right"]))


def reservoir(s: _Scene) -> None:
    """Anglers on the shore band, walkers on the path, boats on the water, bank-side occluders."""
    for _ in range(int(s.rng.choice([0, 1, 2, 2, 3, 3, 4, 5]))):
        _angler(s)
    if s.p(0.15):
        _angler(s, 0.80, 0.92)  # fishing from the path edge
    for _ in range(int(s.rng.integers(0, 5))):  # walkers and joggers on the path
        jog = s.p(0.2)
        s.person(s.moving(s.u(0.81, 0.92), s.u(0.15, 0.2) if jog else s.u(0.05, 0.09)))
    for _ in range(int(s.rng.integers(0, 3))):  # people standing or sitting on the bank, no rod
        s.person(s.still(s.u(0.02, 0.98), s.u(0.61, 0.95)), pose="sit" if s.p(0.3) else "stand",
                 facing=s.pick(["auto", "away", "toward", "left", "right"]))
    if s.p(0.3):  # someone walking down to the water or back
        s.person(s.moving(s.u(0.62, 0.9), s.u(0.0, 0.02), vy=s.pick([-1, 1]) * s.u(0.02, 0.05)))
    if s.p(0.2):  # on the grass in the foreground
        s.person(s.moving(s.u(0.93, 1.1), s.u(0.04, 0.08)))
    for _ in range(int(s.rng.choice([0, 1, 1, 2, 2, 3]))):
        y = s.u(0.31, 0.58)
        style = s.pick(["auto", "skiff", "rowing", "cabin", "canopy"])
        kw = {"style": style, "crew": int(s.rng.integers(0, 5)) if s.p(0.5) else None,
              "color": s.pick(COLORS) if s.p(0.3) else None,
              "lamp": s.pick(["auto", "auto", "on", "off"])}
        if s.p(0.5):
            kw["length_m"] = round(s.u(2.5, 9.0), 2)
        if s.p(0.5):
            s.add("boat", s.still(s.u(-0.05, 1.05), y), facing=s.pick(["auto", "left", "right"]), **kw)
        else:
            s.add("boat", s.moving(y, s.u(0.01, 0.06)), **kw)
    for _ in range(int(s.rng.integers(0, 5))):
        k = s.pick(["tree", "tree", "reeds", "reeds", "bush", "sign", "bench", "bin", "bicycle", "lamp_post"])
        y = {"reeds": s.u(0.59, 0.66), "tree": s.u(0.62, 1.15)}.get(k, s.u(0.62, 0.95))
        s.occluder(k, s.u(-0.1, 1.1), y)


def _stall(s: _Scene, x: float, y: float) -> None:
    """A stall (sometimes mid set-up, so bare crates appear unlabelled) with a vendor nearby."""
    kw = {"style": s.pick(["auto", "umbrella", "canopy", "plain"]),
          "goods": s.pick(["auto", "fruit", "vegetables", "clothes", "snacks", "mixed"]),
          "color": s.pick(COLORS) if s.p(0.4) else None}
    if s.p(0.4):
        kw["width_m"] = round(s.u(1.0, 3.5), 2)
    if s.p(0.75):
        s.add("stall", [[0, round(x, 4), round(y, 4)]], setup_s=0, **kw)
    else:
        setup = round(s.u(5, s.dur * 0.6), 1)
        t0 = round(s.u(0, s.dur - setup - 0.1), 2)
        s.add("stall", [[t0, round(x, 4), round(y, 4)]], setup_s=setup, **kw)
    if s.p(0.7):
        s.person(s.still(x + s.pick([-1, 1]) * s.u(0.04, 0.1), min(y + s.u(-0.01, 0.04), 1.0)),
                 pose="sit" if s.p(0.6) else "stand", facing=s.pick(["toward", "auto", "left", "right"]))
    if s.p(0.3):  # a customer
        s.person(s.still(x + s.u(-0.06, 0.06), min(y + s.u(0.01, 0.05), 1.2)),
                 facing=s.pick(["away", "left", "right"]))


def market(s: _Scene) -> None:
    """Stalls on both sidewalks and in the market area, traffic, parked cars, carts, pedestrians."""
    for _ in range(int(s.rng.choice([0, 1, 1, 2, 2, 3]))):  # near sidewalk (illegal) stalls
        _stall(s, s.u(0.03, 0.97), s.u(0.84, 0.98))
    for _ in range(int(s.rng.choice([0, 0, 1, 2, 2, 3]))):  # market area / far sidewalk stalls
        if s.p(0.7):
            _stall(s, s.u(0.62, 0.98), s.u(0.44, 0.47))
        else:
            _stall(s, s.u(0.02, 0.6), s.u(0.42, 0.47))
    for _ in range(int(s.rng.integers(0, 7))):  # moving traffic: far lane left, near lane right
        y, spd = (0.63, -1) if s.p(0.5) else (0.71, 1)
        path = s.moving(y + s.u(-0.02, 0.02), s.u(0.12, 0.35))
        if (path[-1][1] - path[0][1]) * spd < 0:
            path = [[path[0][0], path[1][1], path[1][2]], [path[1][0], path[0][1], path[0][2]]]
        s.add("vehicle", path, style=s.pick(["auto", "car", "suv", "van", "truck"]),
              color=s.pick(COLORS) if s.p(0.4) else None, lights=s.pick(["auto", "auto", "on", "off"]))
    for _ in range(int(s.rng.choice([0, 1, 1, 2, 3]))):  # parked: fire lane, bays, anywhere on the road
        y = s.pick([0.545, 0.545, 0.785, 0.785, s.u(0.5, 0.8)])
        x = s.pick([0.15, 0.35]) if y == 0.785 and s.p(0.5) else s.u(-0.1, 1.1)
        s.add("vehicle", s.still(x, y + s.u(-0.008, 0.008)), style=s.pick(["auto", "car", "suv", "van", "truck"]),
              color=s.pick(COLORS) if s.p(0.4) else None, facing=s.pick(["auto", "left", "right"]),
              lights=s.pick(["auto", "auto", "off", "on"]))
    for _ in range(int(s.rng.choice([0, 1, 1, 2, 3]))):  # carts: riding along the road/sidewalk, or parked
        kw = {"cargo": s.pick(["auto", "boxes", "sacks", "produce", "cylinders", "empty"]),
              "color": s.pick(COLORS) if s.p(0.4) else None, "roof": s.p(0.3) if s.p(0.5) else None}
        if s.p(0.5):
            s.add("cart", s.moving(s.pick([s.u(0.6, 0.78), s.u(0.82, 0.98), s.u(0.4, 0.47)]), s.u(0.03, 0.12)),
                  rider=s.pick(["always", "always", "moving"]), **kw)
        else:
            s.add("cart", s.still(s.u(0.02, 0.98), s.pick([s.u(0.82, 0.98), s.u(0.41, 0.47), s.u(0.55, 0.79)])),
                  rider=s.pick(["always", "moving", "none"]), facing=s.pick(["auto", "left", "right"]), **kw)
    for _ in range(int(s.rng.integers(1, 8))):  # pedestrians on both sidewalks
        if s.p(0.55):
            s.person(s.moving(s.u(0.82, 1.0), s.u(0.035, 0.07)))
        else:
            s.person(s.moving(s.u(0.39, 0.47), s.u(0.025, 0.045)))
    if s.p(0.3):  # someone crossing the road
        s.person(s.moving(s.u(0.45, 0.95), s.u(0.0, 0.02), vy=s.pick([-1, 1]) * s.u(0.02, 0.04)))
    for _ in range(int(s.rng.integers(0, 3))):  # people standing around
        s.person(s.still(s.u(0.02, 0.98), s.pick([s.u(0.82, 1.0), s.u(0.4, 0.47)])),
                 facing=s.pick(["auto", "toward", "away", "left", "right"]))
    for _ in range(int(s.rng.integers(0, 6))):
        k = s.pick(["tree", "tree", "lamp_post", "lamp_post", "bollard", "bin", "bicycle", "bench", "sign", "bush"])
        y = s.pick([s.u(0.8, 0.86), s.u(0.9, 1.15), s.u(0.38, 0.44)])
        s.occluder(k, s.u(-0.1, 1.1), y)


def random_scene(seed: int, duration_s: float = 30.0, size: tuple[int, int] | None = None) -> dict:
    """One random scenario as a dict in the TOML layout (validated with `to_scenario`)."""
    rng = np.random.default_rng([seed, 7177])
    s = _Scene(rng, duration_s)
    site = "reservoir" if rng.random() < 0.5 else "market"
    lighting = s.pick(["day", "day", "day", "dusk", "dusk", "night", "night"])
    (reservoir if site == "reservoir" else market)(s)
    if size is None:
        size = (1280, 720) if rng.random() < 0.85 else s.pick([(1920, 1080), (960, 540), (1280, 960), (800, 600)])
    base_noise = {"day": 2.0, "dusk": 3.5, "night": 7.0}[lighting]
    hour = {"day": 10, "dusk": 18, "night": 22}[lighting]
    start = datetime(2026, 5, 1, hour, 0, tzinfo=timezone(timedelta(hours=8)))
    sc = {
        "scenario": {"name": f"train_{seed:06d}", "site": site, "seed": int(seed), "duration_s": duration_s,
                     "fps": 5, "size": list(size), "start": start, "lighting": lighting},
        "camera": {"noise": round(float(np.clip(base_noise * s.u(0.3, 2.0), 0, 40)), 2),
                   "shake_px": round(s.u(0, 3.0), 2)},
        "light_changes": [],
        "actors": s.actors,
        "occluders": s.occluders,
    }
    if s.p(0.35):
        a = s.u(0, duration_s * 0.6)
        sc["light_changes"].append({"start_s": round(a, 2), "end_s": round(s.u(a + 1, duration_s), 2),
                                    "gain": round(s.u(0.55, 1.35), 3), "ramp_s": round(s.u(0, 5), 2)})
    return sc


def to_scenario(data: dict, source: str = "<random>") -> Scenario:
    """Validate a scene dict exactly like a scenario file (raises ScenarioError)."""
    return validate_scenario(data, source)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return repr(v) if isinstance(v, float) else str(v)


def to_toml(data: dict) -> str:
    """Serialise a scene dict as a scenario TOML file (the documented format)."""
    meta = data["scenario"]
    lines = [f"# Random training scene ({meta['site']}, {meta['lighting']}); generated by models.train.scenes.",
             "# Training data only: no ground truth intervals.", ""]
    for table in ("scenario", "camera"):
        lines.append(f"[{table}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in data[table].items()]
        lines.append("")
    for arr in ("light_changes", "actors", "occluders"):
        for item in data.get(arr, []):
            lines.append(f"[[{arr}]]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in item.items()]
            lines.append("")
    return "\n".join(lines)
