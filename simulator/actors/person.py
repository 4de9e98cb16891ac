"""Pedestrians and anglers.  The fishing rod is its own labelled object (`<id>.rod`, fishing_rod)."""

from __future__ import annotations

import math

from simulator.actors.base import Actor, Ctx, bezier, shadow_alpha
from simulator.actors.figure import draw_figure, random_look
from simulator.canvas import Canvas
from simulator.motion import in_intervals
from simulator.palette import pick

_BLANKS = [(28, 28, 28), (60, 30, 18), (25, 50, 25), (22, 40, 62), (45, 45, 45), (40, 20, 50)]
_TIPS = [(245, 245, 245), (40, 40, 225), (20, 130, 250), (40, 225, 245), (120, 240, 120)]
_HANDLES = [(110, 160, 195), (25, 25, 25), (40, 40, 120), (70, 70, 70)]


class Person(Actor):
    kind = "person"

    def __init__(self, spec, ctx: Ctx, duration_s: float):
        super().__init__(spec, ctx, duration_s)
        rng = self.rng
        angler = bool(spec.rod)
        self.look = random_look(rng, spec.shirt, spec.pants, spec.hat, spec.bag, spec.height_m,
                                hat_p=(0.3, 0.25, 0.3, 0.15, 0.0) if angler else (0.62, 0.16, 0.1, 0.08, 0.04))
        self.phase0 = rng.uniform(0, 2 * math.pi)
        self.stride = rng.uniform(1.25, 1.5)  # metres per gait cycle
        # Rod: length in body heights, elevation, side, colours, sway.
        self.rod_len = rng.uniform(1.55, 2.0)
        self.rod_elev = math.radians(rng.uniform(28, 52))
        self.rod_side = {"left": -1, "right": 1}.get(spec.rod_side, 1 if rng.random() < 0.5 else -1)
        self.rod_blank = pick(rng, _BLANKS)
        self.rod_tip = pick(rng, _TIPS)
        self.rod_handle = pick(rng, _HANDLES)
        self.rod_sway = rng.uniform(0, 2 * math.pi)
        self.rod_back_view = rng.random() < 0.6
        self.default_f = 1 if rng.random() < 0.5 else -1

    def _view(self, t: float, rod: bool) -> tuple[str, int]:
        spec, path = self.spec, self.path
        if path.moving(t):
            vx, vy = path.velocity_px(t)
            if abs(vx) >= abs(vy) * 1.2:
                return "side", 1 if vx > 0 else -1
            return ("front" if vy > 0 else "back"), 1
        f = path.heading(t, self.default_f)
        if spec.facing in ("left", "right"):
            return "side", -1 if spec.facing == "left" else 1
        if spec.facing == "away":
            return "back", 1
        if spec.facing == "toward":
            return "front", 1
        if rod:
            return ("back", 1) if self.rod_back_view else ("side", self.rod_side)
        return "side", f

    def draw(self, cv: Canvas, t: float, ctx: Ctx) -> None:
        x, y, ppm = self.place(cv, t, ctx)
        hp = ppm * self.look.height_m
        rod = in_intervals(t, self.spec.rod)
        view, f = self._view(t, rod)
        moving = self.path.moving(t)
        pose = "sit" if (self.spec.pose == "sit" and not moving) else "stand"
        speed = self.path.speed_mps(t)
        amp = min(speed / 1.3, 1.6) * 0.42 if moving else 0.0
        phase = self.phase0 + 2 * math.pi * self.path.metres(t) / self.stride
        sa = shadow_alpha(ctx.lighting)
        wading = self.spec.wading_depth_m * ppm
        water = None
        if wading > 0:  # the water's colour beside the legs, before anyone draws over it
            wx = int(min(max(x + 0.6 * hp, 0), cv.w - 1))
            wy = int(min(max(y - 0.5 * wading, 0), cv.h - 1))
            water = tuple(int(c) for c in cv.img[wy, wx])
        elif sa:
            cv.shadow(x, y, 0.16 * hp, 0.035 * hp, sa)
        if self.spec.shelter != "none":
            draw_shelter(cv, x, y, ppm, self.spec.shelter, self.rod_side, ctx)
        if in_intervals(t, self.spec.packed_rod) and not rod:
            self._packed(cv, x, y, hp, f if view == "side" else 1)
        arms = "rod" if rod else "swing"
        rod_first = rod and view == "back"
        hand = None
        if rod_first:
            hand = self._hands_back(x, y, hp, pose)
            self._rod(cv, hand, hp, t, ctx, self.rod_side)
        cv.begin("person", self.id)
        h2 = draw_figure(cv, x, y, hp, self.look, view=view, f=f, pose=pose, phase=phase, amp=amp, arms=arms)
        cv.end()
        if rod and not rod_first:
            side = f if view == "side" else self.rod_side
            self._rod(cv, h2, hp, t, ctx, side)
        if water is not None:  # legs below the waterline: hidden (scenery keeps them out of the box)
            cv.scenery()
            cv.rect(x - 0.3 * hp, y - wading, x + 0.3 * hp, y + 1, water)
            cv.ellipse((x, y - wading), (0.22 * hp, 0.03 * hp), tuple(min(255, c + 25) for c in water), th=1)
            cv.image_only()

    def _packed(self, cv: Canvas, x: float, y: float, hp: float, f: int) -> None:
        """A rod bag slung on the back: a long tube, not a rod at hand (scenery, not labelled)."""
        cv.scenery()
        a, b = (x - f * 0.12 * hp, y - 0.3 * hp), (x + f * 0.05 * hp, y - 1.05 * hp)
        cv.line(a, b, (40, 70, 50), max(3.0, 0.06 * hp))
        cv.line(b, (b[0] + f * 0.01 * hp, b[1] - 0.03 * hp), (30, 30, 30), max(3.0, 0.065 * hp))
        cv.image_only()

    def _hands_back(self, x: float, y: float, hp: float, pose: str) -> tuple[float, float]:
        v = 0.42 if pose == "sit" else 0.56
        return x + self.rod_side * 0.07 * hp, y - v * hp

    def _rod(self, cv: Canvas, hand, hp: float, t: float, ctx: Ctx, side: int) -> None:
        """A long tapered rod reaching up and out over the water, plus the line and a float."""
        k = ctx.k
        hp_stand = hp
        length = self.rod_len * hp_stand
        el = self.rod_elev + math.radians(2.0) * math.sin(2 * math.pi * t / 4.5 + self.rod_sway)
        dx, dy = side * math.cos(el), -math.sin(el)
        aim = self.spec.rod_aim
        if aim != "side":  # toward or away from the camera: foreshortened, mostly up in the picture
            dx *= 0.25
            dy *= 0.75 if aim == "away" else 0.55
        butt = (hand[0] - dx * 0.12 * length, hand[1] - dy * 0.12 * length)
        tip = (butt[0] + dx * length, butt[1] + dy * length + 0.07 * length)
        mid = (butt[0] + dx * length * 0.5, butt[1] + dy * length * 0.5)
        pts = bezier(butt, mid, tip, 13)
        t0 = max(4.5 * k, 0.055 * hp)
        t1 = max(1.6 * k, 0.016 * hp) * (2.2 if aim == "toward" else 1.0)  # the near tip looks thicker
        cv.begin("fishing_rod", f"{self.id}.rod")
        n = len(pts) - 1
        for i in range(n):
            s = i / n
            col = self.rod_handle if s < 0.16 else (self.rod_tip if s >= 0.84 else self.rod_blank)
            cv.line(pts[i], pts[i + 1], col, t0 + (t1 - t0) * s)
        # Glossy blank: a thin highlight along the upper edge (also what makes rods glint under IR).
        hl = (190, 190, 190) if ctx.lighting != "night" else (235, 235, 235)
        off = -0.3 * t0
        for i in range(3, n - 2):
            cv.line((pts[i][0], pts[i][1] + off), (pts[i + 1][0], pts[i + 1][1] + off), hl, 1, mark=False)
        reel = pts[2]
        cv.circle((reel[0], reel[1] + 0.03 * hp), max(0.028 * hp, 2.5 * k), (185, 185, 180))
        cv.end()
        # Line and float: image only (too thin to be part of the box).
        shore_y = 0.585 * ctx.h
        fx = tip[0] + side * 0.12 * length
        fy = min(tip[1] + 0.4 * length, shore_y)
        bob = math.sin(2 * math.pi * t / 2.3 + self.rod_sway) * 1.0 * k
        cv.line(tip, (fx, fy + bob), (205, 205, 205), 1, mark=False)
        cv.circle((fx, fy + bob), max(2.0 * k, 0.012 * hp), (30, 60, 235), mark=False)
        cv.ellipse((fx, fy + 2 * k), (7 * k, 2 * k), (200, 200, 195), th=1, mark=False)


def draw_shelter(cv: Canvas, x: float, y: float, ppm: float, kind: str, side: int, ctx: Ctx) -> None:
    """An angler's umbrella (a canopy on a pole, behind them) or a small dome tent beside them."""
    cv.scenery()
    if kind == "umbrella":
        top = (x - side * 0.4 * ppm, y - 2.0 * ppm)
        cv.line((x - side * 0.2 * ppm, y), top, (90, 90, 90), max(1.5, 0.03 * ppm))
        cv.ellipse((top[0], top[1] + 0.15 * ppm), (1.1 * ppm, 0.45 * ppm), (40, 110, 40), a0=180, a1=360)
        cv.line((top[0] - 1.1 * ppm, top[1] + 0.15 * ppm), (top[0] + 1.1 * ppm, top[1] + 0.15 * ppm),
                (30, 80, 30), max(1.5, 0.03 * ppm))
    else:
        c = (x - side * 1.3 * ppm, y)
        cv.ellipse(c, (1.0 * ppm, 1.1 * ppm), (60, 120, 170), a0=180, a1=360)
        cv.ellipse((c[0], c[1] - 0.05 * ppm), (0.3 * ppm, 0.6 * ppm), (30, 50, 70), a0=180, a1=360)
    cv.image_only()
