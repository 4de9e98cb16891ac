"""People and boats seen from a drone: simple 3-D bodies (in east-north-up metres) projected per frame.

Each body part is a cross-section (an ellipse at a height) or a limb (a segment); projecting the 3-D
points through the frame's View gives the right size, foreshortening and lean for any altitude, pitch
and heading, from straight down to oblique.  Looks are seeded per actor; positions come from keyframes
only (no simulation state), so any frame renders on its own.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from edge.geo import LocalFrame
from simulator.actors.base import stable_rng
from simulator.aerial.view import View
from simulator.canvas import Canvas
from simulator.lighting import Look
from simulator.motion import Keyframed, in_intervals
from simulator.palette import (
    BOTTOMS,
    BRIGHT,
    HAIR,
    HAIR_P,
    HULL,
    SKIN,
    TOPS,
    jitter,
    parse_color,
    pick,
    shade,
)

CIRCLE = [(math.cos(a), math.sin(a)) for a in np.linspace(0, 2 * math.pi, 14, endpoint=False)]


class GeoPath(Keyframed):
    """Keyframes [t, lat, lon] as local metres: position, velocity and facing at any time."""

    def __init__(self, keys, frame: LocalFrame, duration_s: float):
        self.t = [float(k[0]) for k in keys]
        self.p = [frame.to_enu(k[1], k[2]) for k in keys]
        self.t0 = self.t[0]
        self.t1 = self.t[-1] if len(keys) > 1 else float(duration_s)
        self.m = [0.0]
        for a, b in zip(self.p, self.p[1:], strict=False):
            self.m.append(self.m[-1] + math.dist(a, b))

    def at(self, t: float) -> tuple[float, float]:
        i = self._seg(t)
        if i < 0:
            return self.p[0] if t < self.t0 or len(self.p) == 1 else self.p[-1]
        f = (t - self.t[i]) / (self.t[i + 1] - self.t[i])
        (ax, ay), (bx, by) = self.p[i], self.p[i + 1]
        return ax + f * (bx - ax), ay + f * (by - ay)

    def heading(self, t: float, default: float) -> float:
        """Degrees clockwise from north: the current motion, else the last one, else the next one."""
        def seg_heading(j: int) -> float | None:
            (ax, ay), (bx, by) = self.p[j], self.p[j + 1]
            return math.degrees(math.atan2(bx - ax, by - ay)) % 360 if math.hypot(bx - ax, by - ay) > 0.05 else None

        n = len(self.p) - 1
        i = self._seg(t)
        order = ([i] if i >= 0 else []) + list(range((i if i >= 0 else (n if t > self.t0 else 0)) - 1, -1, -1))
        order += list(range(max(i, 0), n))
        for j in order:
            h = seg_heading(j)
            if h is not None:
                return h
        return default


class Ctx:
    """What actors need besides the view: lighting, sun, the water (for anglers), the seed."""

    def __init__(self, seed: int, lighting: str, sun: tuple[float, float], water: np.ndarray, frame: LocalFrame,
                 duration_s: float):
        self.seed, self.lighting, self.sun, self.water = seed, lighting, sun, water
        self.frame, self.duration_s = frame, duration_s
        self.look = Look(lighting)
        az, el = math.radians(sun[0]), math.radians(sun[1])
        self.shadow_dir = np.array([-math.sin(az), -math.cos(az)])  # along the ground, away from the sun
        self.shadow_len = 1.0 / math.tan(el) if lighting != "night" and el > 0 else 0.0
        self.shadow_alpha = {"day": 0.35, "dusk": 0.2, "night": 0.0}[lighting]


def _frame_vectors(heading_deg: float) -> tuple[np.ndarray, np.ndarray]:
    h = math.radians(heading_deg)
    return np.array([math.sin(h), math.cos(h), 0.0]), np.array([math.cos(h), -math.sin(h), 0.0])


def _ring(centre, fwd, right, rf: float, rr: float) -> np.ndarray:
    """Points of a horizontal ellipse: rf along fwd, rr along right."""
    return np.array([centre + c * rr * right + s * rf * fwd for c, s in CIRCLE])


def _hull(view: View, *rings) -> np.ndarray | None:
    p = view.px(np.concatenate(rings))
    if np.isnan(p).any():
        return None
    return cv2.convexHull(p.astype(np.float32)).reshape(-1, 2)


def nearest_on_polygon(p: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """The point of a polygon's boundary nearest to p (2-D)."""
    a, b = poly, np.roll(poly, -1, axis=0)
    ab = b - a
    f = np.clip(((p - a) * ab).sum(1) / np.maximum((ab * ab).sum(1), 1e-9), 0, 1)
    q = a + f[:, None] * ab
    return q[np.argmin(((q - p) ** 2).sum(1))]


class AerialActor:
    kind = ""

    def __init__(self, spec, ctx: Ctx):
        self.spec = spec
        self.id = spec.id
        self.rng = stable_rng(ctx.seed, "actor", spec.id)
        self.path = GeoPath(spec.path, ctx.frame, ctx.duration_s)

    def alive(self, t: float) -> bool:
        return self.path.alive(t)

    def ground(self, t: float) -> tuple[float, float]:
        """The actor's ground point (east, north): feet, or the middle of a boat's waterline."""
        return self.path.at(t)

    def depth(self, t: float, view: View) -> float:
        return view.depth((*self.ground(t), 0.0))

    def draw(self, cv: Canvas, t: float, view: View, ctx: Ctx) -> None:
        raise NotImplementedError

    def shadow(self, cv: Canvas, view: View, ctx: Ctx, base: np.ndarray, r: float, height: float) -> None:
        if ctx.shadow_alpha <= 0 or ctx.shadow_len <= 0:
            return
        tip = base[:2] + ctx.shadow_dir * min(height * ctx.shadow_len, 4 * height)
        right = np.array([-ctx.shadow_dir[1], ctx.shadow_dir[0]])
        pts = [(*(base[:2] + right * r * s), 0.0) for s in (-1, 1)] + [(*(tip + right * r * 0.7 * s), 0.0)
                                                                      for s in (1, -1)]
        p = view.px(pts)
        if not np.isnan(p).any():
            cv.blend_poly(p, (0, 0, 0), ctx.shadow_alpha)


# ------------------------------------------------------------------------------------------ people


class AerialPersonActor(AerialActor):
    kind = "person"

    def __init__(self, spec, ctx: Ctx):
        super().__init__(spec, ctx)
        r = self.rng
        self.height = spec.height_m or float(np.clip(r.normal(1.68, 0.07), 1.5, 1.9))
        self.shoulders = 0.46 * self.height / 1.7 * r.uniform(0.94, 1.08)
        self.shirt = parse_color(spec.shirt) if spec.shirt else jitter(r, pick(r, TOPS))
        self.pants = parse_color(spec.pants) if spec.pants else jitter(r, pick(r, BOTTOMS))
        self.skin = pick(r, SKIN)
        self.hair = pick(r, HAIR, HAIR_P)
        hat = spec.hat if spec.hat != "auto" else pick(r, ["none", "none", "straw", "cap", "bucket"])
        if spec.hat == "auto" and spec.rod and r.random() < 0.5:
            hat = "straw"
        self.hat = hat
        self.hat_col = (120, 190, 215) if hat == "straw" else pick(r, BRIGHT)
        self.bag = spec.bag if spec.bag != "auto" else ("backpack" if r.random() < 0.25 else "none")
        self.bag_col = jitter(r, pick(r, BOTTOMS))
        self.rod_len = float(r.uniform(3.2, 4.2))
        self.rod_col = pick(r, [(30, 30, 30), (40, 40, 60), (60, 60, 60), (20, 60, 90)])
        self.tip_col = pick(r, [(240, 240, 240), (40, 40, 220), (30, 140, 250), (40, 215, 240)])
        self.default_heading = float(r.uniform(0, 360))

    def rod_out(self, t: float) -> bool:
        return in_intervals(t, self.spec.rod)

    def rod_heading(self, t: float, ctx: Ctx) -> float:
        if self.spec.rod_heading_deg is not None:
            return self.spec.rod_heading_deg % 360
        p = np.array(self.ground(t))
        q = nearest_on_polygon(p, ctx.water)
        d = q - p
        if np.hypot(*d) < 0.05:
            return self.facing(t)
        return math.degrees(math.atan2(d[0], d[1])) % 360

    def facing(self, t: float) -> float:
        if self.path.speed_mps(t) < 0.1 and self.spec.facing_deg is not None:
            return self.spec.facing_deg % 360
        return self.path.heading(t, self.spec.facing_deg if self.spec.facing_deg is not None else self.default_heading)

    def draw(self, cv: Canvas, t: float, view: View, ctx: Ctx) -> None:
        e, n = self.ground(t)
        base = np.array([e, n, 0.0])
        rod = self.rod_out(t)
        moving = self.path.speed_mps(t) > 0.1
        heading = self.rod_heading(t, ctx) if rod and not moving and self.spec.facing_deg is None else self.facing(t)
        fwd, right = _frame_vectors(heading)
        k = self.height / 1.7
        sit = self.spec.pose == "sit" and not moving
        hip_z = (0.45 if sit else 0.86) * k
        sh_z = hip_z + 0.55 * k
        head_z = sh_z + 0.18 * k
        ppm = view.ppm(base + (0, 0, hip_z))
        self.shadow(cv, view, ctx, base, 0.22, self.height * (0.75 if sit else 1.0))
        stride = math.sin(self.path.metres(t) * 2 * math.pi / 1.4) * min(self.path.speed_mps(t) / 1.3, 1.0) * 0.32
        if sit:  # a small stool (unlabelled scenery), then thighs forward and shins down
            seat = _ring(base + (0, 0, 0.38), fwd, right, 0.16, 0.16)
            stool = _hull(view, _ring(base, fwd, right, 0.16, 0.16), seat)
            if stool is not None:
                cv.scenery()
                cv.poly(stool, (60, 60, 140))
        cv.begin("person", self.id)
        for side in (-1, 1):
            hip = base + right * side * 0.09 * k + (0, 0, hip_z)
            if sit:
                knee = hip + fwd * 0.42 * k
                foot = base + right * side * 0.12 * k + fwd * 0.45 * k
                self._limb(cv, view, hip, knee, self.pants, 0.14 * ppm)
                self._limb(cv, view, knee, foot, self.pants, 0.12 * ppm)
            else:
                foot = base + right * side * 0.1 * k + fwd * side * stride
                self._limb(cv, view, foot, hip, self.pants, 0.14 * ppm)
        if self.bag == "backpack":
            pack = _hull(view, _ring(base - fwd * 0.2 * k + (0, 0, hip_z + 0.2), fwd, right, 0.1, 0.15),
                         _ring(base - fwd * 0.2 * k + (0, 0, sh_z - 0.05), fwd, right, 0.1, 0.16))
            if pack is not None:
                cv.poly(pack, self.bag_col)
        torso = _hull(view, _ring(base + (0, 0, hip_z), fwd, right, 0.11 * k, 0.17 * k),
                      _ring(base + (0, 0, sh_z), fwd, right, 0.12 * k, self.shoulders / 2))
        if torso is not None:
            cv.poly(torso, self.shirt)
        for side in (-1, 1):
            sh = base + right * side * self.shoulders / 2 + (0, 0, sh_z - 0.04)
            if rod:
                hand = base + fwd * 0.38 * k + right * side * 0.08 + (0, 0, hip_z + 0.2 * k)
            elif sit:
                hand = base + fwd * 0.3 * k + right * side * 0.2 * k + (0, 0, hip_z + 0.05)
            else:
                hand = base + right * side * (self.shoulders / 2 + 0.04) - fwd * side * stride * 0.8 + (0, 0, hip_z - 0.02)
            self._limb(cv, view, sh, hand, self.shirt, 0.09 * ppm)
            hp = view.px([hand])[0]
            if not np.isnan(hp).any():
                cv.circle(hp, max(0.045 * ppm, 0.5), self.skin)
        head = base + (0, 0, head_z) + fwd * 0.02
        hp = view.px([head])[0]
        if not np.isnan(hp).any():
            cv.circle(hp, max(0.1 * ppm * k, 0.7), self.skin)
            back = view.px([head - fwd * 0.03 + (0, 0, 0.04)])[0]
            cv.circle(back, max(0.085 * ppm * k, 0.6), self.hair)
            self._hat(cv, view, head, fwd, right, ppm)
        cv.end()
        if rod:
            self._rod(cv, view, ctx, base, t, hip_z + 0.2 * k, ppm)

    def _limb(self, cv: Canvas, view: View, a, b, color, th: float) -> None:
        p = view.px([a, b])
        if not np.isnan(p).any():
            cv.line(p[0], p[1], color, max(th, 1.0))

    def _hat(self, cv: Canvas, view: View, head, fwd, right, ppm: float) -> None:
        if self.hat == "none":
            return
        top = head + (0, 0, 0.08)
        if self.hat == "straw":
            brim = _hull(view, _ring(top - (0, 0, 0.04), fwd, right, 0.24, 0.24),
                         _ring(top + (0, 0, 0.08), fwd, right, 0.03, 0.03))
            if brim is not None:
                cv.poly(brim, self.hat_col)
                c = view.px([top + (0, 0, 0.08)])[0]
                cv.circle(c, max(0.03 * ppm, 0.5), shade(self.hat_col, 0.8))
        else:
            r = 0.11 if self.hat == "cap" else 0.14
            visor = fwd * (0.09 if self.hat == "cap" else 0)
            crown = _hull(view, _ring(top - (0, 0, 0.03), fwd, right, r, r), _ring(top + visor, fwd, right, r * 0.8, r * 0.8))
            if crown is not None:
                cv.poly(crown, self.hat_col)

    def _rod(self, cv: Canvas, view: View, ctx: Ctx, base, t: float, hand_z: float, ppm: float) -> None:
        """A 3-4 m rod raised over the water from the hands, a thin line and a float on the water."""
        direction, _right = _frame_vectors(self.rod_heading(t, ctx))
        sway = 0.03 * math.sin(t * 0.9 + self.rod_len)
        el = math.radians(32 + 6 * math.sin(t * 0.31 + 1.3))
        butt = base + direction * 0.3 + (0, 0, hand_z - 0.15)
        pts = []
        for s in np.linspace(0, 1, 7):
            d = self.rod_len * s
            pts.append(butt + direction * d * math.cos(el) + (0, 0, d * math.sin(el) - 0.35 * s * s)
                       + np.cross(direction, (0, 0, 1)) * sway * s)
        p = view.px(pts)
        if np.isnan(p).any():
            return
        th = max(0.04 * ppm, 2.0)  # thicker than life (3 cm): a detector needs about 2 px to see it
        cv.begin("fishing_rod", f"{self.id}.rod")
        cv.polyline(p[:4], self.rod_col, th)
        cv.polyline(p[3:], self.rod_col, th * 0.5)
        cv.line(p[-2], p[-1], self.tip_col, th * 0.5)
        cv.end()
        tip = pts[-1]
        bob = base + direction * (self.rod_len * math.cos(el) + 2.5)
        bob[2] = 0.0
        q = view.px([tip, bob])
        if not np.isnan(q).any():
            cv.line(q[0], q[1], (200, 200, 200), 1, mark=False)
            cv.circle(q[1], max(0.06 * ppm, 1.0), (40, 40, 230), mark=False)


# ------------------------------------------------------------------------------------------ boats


class AerialBoatActor(AerialActor):
    kind = "boat"

    def __init__(self, spec, ctx: Ctx):
        super().__init__(spec, ctx)
        r = self.rng
        self.style = spec.style if spec.style != "auto" else pick(r, ["skiff", "skiff", "rowing"])
        self.length = spec.length_m or float(r.uniform(3.6, 5.8) if self.style == "skiff" else r.uniform(3.0, 4.2))
        self.beam = self.length * float(r.uniform(0.34, 0.42))
        self.freeboard = float(r.uniform(0.4, 0.6))
        self.hull = parse_color(spec.color) if spec.color else jitter(r, pick(r, HULL), 12)
        self.inside = pick(r, [(150, 170, 180), (90, 130, 170), (200, 200, 200), (110, 110, 110)])
        crew = spec.crew if spec.crew is not None else int(r.integers(1 if self.style == "rowing" else 0, 3))
        self.crew = [(float(r.uniform(-0.32, 0.2)), pick(r, TOPS), pick(r, SKIN), pick(r, HAIR, HAIR_P),
                      r.random() < 0.4) for _ in range(crew)]
        self.crew.sort()
        self.lamp = spec.lamp == "on" or (spec.lamp == "auto" and ctx.lighting != "day")
        self.default_heading = float(r.uniform(0, 360))
        self.phase = float(r.uniform(0, 2 * math.pi))

    def heading(self, t: float) -> float:
        if self.path.speed_mps(t) < 0.1 and self.spec.heading_deg is not None:
            base = self.spec.heading_deg
        else:
            base = self.path.heading(t, self.spec.heading_deg if self.spec.heading_deg is not None else self.default_heading)
        still = self.path.speed_mps(t) < 0.1
        return (base + (4.0 * math.sin(t * 0.12 + self.phase) if still else 0.0)) % 360  # a moored boat swings

    def outline(self, centre, fwd, right, scale: float = 1.0, z: float = 0.0) -> np.ndarray:
        length, half = self.length / 2 * scale, self.beam / 2 * scale
        shape = [(-1.0, 0.82), (-0.4, 1.0), (0.25, 0.96), (0.6, 0.72), (0.85, 0.38), (1.0, 0.0)]
        side = [(x * length, y * half) for x, y in shape]
        pts = side + [(x, -y) for x, y in reversed(side[:-1])]
        return np.array([centre + fwd * x + right * y + (0, 0, z) for x, y in pts])

    def draw(self, cv: Canvas, t: float, view: View, ctx: Ctx) -> None:
        e, n = self.ground(t)
        base = np.array([e, n, 0.0])
        fwd, right = _frame_vectors(self.heading(t))
        speed = self.path.speed_mps(t)
        ppm = view.ppm(base)
        self._water_marks(cv, view, ctx, base, fwd, right, speed)
        cv.begin("boat", self.id)
        hull = _hull(view, self.outline(base, fwd, right, 0.9), self.outline(base, fwd, right, 1.0, self.freeboard))
        if hull is None:
            cv.end()
            return
        cv.poly(hull, shade(self.hull, 0.72))
        top = view.px(self.outline(base, fwd, right, 1.0, self.freeboard))
        cv.poly(top, self.hull)
        cv.poly(view.px(self.outline(base, fwd, right, 0.84, self.freeboard - 0.05)), self.inside)
        wood = (60, 110, 160)
        for x in (-0.3, 0.05, 0.4):
            a = base + fwd * x * self.length / 2 + (0, 0, self.freeboard - 0.12)
            p = view.px([a - right * self.beam * 0.4, a + right * self.beam * 0.4])
            cv.line(p[0], p[1], wood, max(0.18 * ppm, 1.0))
        stern = base - fwd * self.length / 2
        if self.style == "skiff":
            motor = _hull(view, _ring(stern - fwd * 0.2 + (0, 0, 0.3), fwd, right, 0.22, 0.16),
                          _ring(stern - fwd * 0.22 + (0, 0, 0.85), fwd, right, 0.25, 0.17))
            if motor is not None:
                cv.poly(motor, (35, 35, 35))
        else:
            for side in (-1, 1):
                lock = base + right * side * self.beam / 2 + (0, 0, self.freeboard)
                sweep = 0.5 * math.sin(t * 1.4 + self.phase) if speed > 0.1 else 0.0
                blade = base + right * side * (self.beam / 2 + 1.5) - fwd * (0.2 + sweep) + (0, 0, 0.05)
                p = view.px([lock, blade])
                cv.line(p[0], p[1], wood, max(0.06 * ppm, 1.0))
                cv.circle(p[1], max(0.1 * ppm, 1.0), wood)
        lamp = None
        if self.lamp:
            lamp = base + fwd * self.length * 0.38 + (0, 0, 1.3)
            p = view.px([lamp - (0, 0, 1.3 - self.freeboard), lamp])
            cv.line(p[0], p[1], (50, 50, 50), max(0.05 * ppm, 1.0))
        cv.end()
        for k, (x, shirt, skin, hair, hat) in enumerate(self.crew, 1):
            self._crew(cv, view, base + fwd * x * self.length, fwd, right, ppm, f"{self.id}.crew{k}",
                       shirt, skin, hair, hat)
        if lamp is not None:
            p = view.px([lamp])[0]
            cv.glow(*p, max(0.8 * ppm, 4), (190, 230, 255), 1.0)

    def _crew(self, cv: Canvas, view: View, seat, fwd, right, ppm, actor_id, shirt, skin, hair, hat) -> None:
        z0 = self.freeboard - 0.1
        cv.begin("person", actor_id)
        torso = _hull(view, _ring(seat + (0, 0, z0), fwd, right, 0.12, 0.17),
                      _ring(seat + (0, 0, z0 + 0.5), fwd, right, 0.12, 0.22))
        if torso is not None:
            cv.poly(torso, shirt)
        for side in (-1, 1):
            shoulder = seat + right * side * 0.22 + (0, 0, z0 + 0.45)
            p = view.px([shoulder, seat + fwd * 0.3 + right * side * 0.12 + (0, 0, z0 + 0.15)])
            cv.line(p[0], p[1], shirt, max(0.08 * ppm, 1.0))
        h = view.px([seat + (0, 0, z0 + 0.68)])[0]
        cv.circle(h, max(0.1 * ppm, 0.7), skin)
        cv.circle(h, max(0.08 * ppm, 0.6), (120, 190, 215) if hat else hair)
        cv.end()

    def _water_marks(self, cv: Canvas, view: View, ctx: Ctx, base, fwd, right, speed: float) -> None:
        """Shadow on the water, a ring of ripples while still, a fading wake while moving (image only)."""
        if ctx.shadow_alpha > 0:
            off = np.append(ctx.shadow_dir * self.freeboard * min(ctx.shadow_len, 3), 0)
            p = view.px(self.outline(base + off, fwd, right, 1.0))
            if not np.isnan(p).any():
                cv.blend_poly(p, (20, 20, 20), ctx.shadow_alpha * 0.8)
        if speed < 0.3:
            ring = view.px(self.outline(base, fwd, right, 1.12))
            if not np.isnan(ring).any():
                cv.polyline(ring, (170, 175, 170), 1, closed=True, mark=False)
            return
        stern = base - fwd * self.length / 2
        spread = min(speed * 5.0, 25.0)
        foam = (225, 230, 230)
        steps = 5
        for side in (-1, 1):  # the two arms of the wake, widening and fading behind the stern
            for k in range(steps):
                a, b = k / steps, (k + 1) / steps
                pts = [stern - fwd * spread * f + right * side * (self.beam * 0.4 + spread * 0.36 * f) for f in (a, b)]
                width = 0.15 + 0.35 * b
                quad = [pts[0], pts[1], pts[1] - right * side * width, pts[0] - right * side * width]
                p = view.px(quad)
                if not np.isnan(p).any():
                    cv.blend_poly(p, foam, 0.45 * (1 - a))
        p = view.px([stern + right * self.beam * 0.3, stern - fwd * spread * 0.6, stern - right * self.beam * 0.3])
        if not np.isnan(p).any():
            cv.blend_poly(p, foam, 0.4)


KINDS = {"person": AerialPersonActor, "boat": AerialBoatActor}


def build(spec, ctx: Ctx) -> AerialActor:
    return KINDS[spec.kind](spec, ctx)
