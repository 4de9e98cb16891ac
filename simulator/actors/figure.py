"""A human figure from OpenCV primitives: side, front and back views; stand, walk, sit, ride poses.

Used by pedestrians and anglers, by boat crews and cart riders.  Geometry is in body heights (u right or
forward, v up from the feet) so one set of proportions works at every size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulator.actors.base import ik2
from simulator.canvas import Canvas
from simulator.palette import BOTTOMS, HAIR, HAIR_P, SHOES, SKIN, TOPS, jitter, parse_color, pick, shade


@dataclass(frozen=True)
class Look:
    height_m: float
    build: float
    skin: tuple
    hair: tuple
    hair_style: str  # short | long | bald
    shirt: tuple
    sleeves: str  # long | short
    pants: tuple
    legwear: str  # pants | shorts | skirt
    shoes: tuple
    hat: str  # none | straw | cap | bucket | helmet
    hat_color: tuple
    bag: str  # none | backpack | shoulder
    bag_color: tuple


def random_look(rng: np.random.Generator, shirt: str | None = None, pants: str | None = None, hat: str = "auto",
                bag: str = "auto", height_m: float | None = None, hat_p: tuple = (0.55, 0.15, 0.15, 0.1, 0.05)) -> Look:
    """A seeded random person; explicit options win over the dice."""
    hair = pick(rng, HAIR, HAIR_P)
    style = "long" if rng.random() < 0.3 else ("bald" if rng.random() < 0.06 else "short")
    legwear = "pants" if rng.random() < 0.8 else ("shorts" if rng.random() < 0.6 else "skirt")
    if hat == "auto":
        hat = str(rng.choice(["none", "cap", "straw", "bucket", "helmet"], p=list(hat_p)))
    if bag == "auto":
        bag = str(rng.choice(["none", "backpack", "shoulder"], p=[0.65, 0.2, 0.15]))
    hat_color = pick(rng, [(120, 190, 215), (235, 235, 235), (30, 30, 30), (40, 40, 190), (150, 80, 30),
                           (60, 120, 60), (40, 200, 230)])
    if hat == "straw":
        hat_color = jitter(rng, (115, 185, 210), 15)
    return Look(
        height_m=height_m if height_m is not None else float(np.clip(rng.normal(1.68, 0.08), 1.45, 1.9)),
        build=float(rng.uniform(0.85, 1.25)),
        skin=jitter(rng, pick(rng, SKIN), 10),
        hair=hair,
        hair_style=style,
        shirt=parse_color(shirt) if shirt else jitter(rng, pick(rng, TOPS)),
        sleeves="long" if rng.random() < 0.6 else "short",
        pants=parse_color(pants) if pants else jitter(rng, pick(rng, BOTTOMS)),
        legwear=legwear,
        shoes=pick(rng, SHOES),
        hat=hat,
        hat_color=hat_color,
        bag=bag,
        bag_color=jitter(rng, pick(rng, [(30, 30, 30), (40, 40, 150), (120, 80, 40), (60, 60, 60), (40, 110, 170)])),
    )


class Figure:
    """Draws one person; `T(u, v)` maps body units to pixels (side views mirror u with the facing)."""

    def __init__(self, cv: Canvas, x: float, y: float, hp: float, look: Look, view: str, f: int = 1):
        self.cv, self.x, self.y, self.hp, self.lk, self.view = cv, x, y, hp, look, view
        self.f = f if view == "side" else 1
        self.drop = 0.0

    def T(self, u: float, v: float) -> tuple[float, float]:
        return self.x + u * self.hp * self.f, self.y - (v - self.drop) * self.hp

    def _seg(self, a, b, color, th) -> None:
        self.cv.line(self.T(*a), self.T(*b), color, th * self.hp)

    def _poly(self, pts, color) -> None:
        self.cv.poly([self.T(u, v) for u, v in pts], color)

    def _limb(self, a, b, c, upper, lower, th, far: bool) -> None:
        s = 0.78 if far else 1.0
        self._seg(a, b, shade(upper, s), th)
        self._seg(b, c, shade(lower, s), th * 0.9)

    def _shoe(self, ankle, far: bool, fwd: float = 1.0) -> None:
        c = shade(self.lk.shoes, 0.78 if far else 1.0)
        if self.view == "side":
            self._seg((ankle[0] - 0.015, ankle[1] - 0.005), (ankle[0] + 0.06 * fwd, ankle[1] - 0.02), c, 0.045)
        else:
            self._seg((ankle[0], ankle[1]), (ankle[0], ankle[1] - 0.02), c, 0.06)

    # ------------------------------------------------------------------ parts

    def head(self, hc: tuple[float, float]) -> None:
        lk, cv = self.lk, self.cv
        r = 0.06 * self.hp
        cx, cy = self.T(*hc)
        if lk.hair_style == "long" and self.view != "front":
            du = -0.035 if self.view == "side" else 0.0
            self._poly([(hc[0] + du - 0.05, hc[1]), (hc[0] + du + 0.05, hc[1]), (hc[0] + du + 0.055, hc[1] - 0.13),
                        (hc[0] + du - 0.055, hc[1] - 0.13)], lk.hair)
        if self.view == "back":
            cv.ellipse((cx, cy), (r * 0.95, r * 1.1), lk.skin)
            if lk.hair_style != "bald":
                cv.ellipse((cx, cy - r * 0.05), (r * 0.97, r * 1.08), lk.hair)
        elif self.view == "front":
            cv.ellipse((cx, cy), (r * 0.92, r * 1.1), lk.skin)
            if lk.hair_style != "bald":
                cv.ellipse((cx, cy - r * 0.2), (r * 0.98, r * 0.95), lk.hair, a0=180, a1=360)
            if lk.hair_style == "long":
                self._seg((hc[0] - 0.05, hc[1]), (hc[0] - 0.055, hc[1] - 0.11), lk.hair, 0.03)
                self._seg((hc[0] + 0.05, hc[1]), (hc[0] + 0.055, hc[1] - 0.11), lk.hair, 0.03)
        else:
            cv.ellipse((cx, cy), (r * 0.95, r * 1.1), lk.skin)
            if lk.hair_style != "bald":
                # Hair covers the top and the back of the head; the face shows forward.
                a0, a1 = (150, 330) if self.f > 0 else (210, 390)
                cv.ellipse((cx - 0.012 * self.hp * self.f, cy - r * 0.08), (r * 0.98, r * 1.05), lk.hair, a0=a0, a1=a1)
        self.hat(hc)

    def hat(self, hc) -> None:
        lk = self.lk
        u, v = hc
        if lk.hat == "straw":
            self._poly([(u - 0.15, v + 0.03), (u + 0.15, v + 0.03), (u, v + 0.125)], lk.hat_color)
            self._seg((u - 0.15, v + 0.03), (u + 0.15, v + 0.03), shade(lk.hat_color, 0.7), 0.012)
        elif lk.hat == "cap":
            cx, cy = self.T(u, v + 0.02)
            self.cv.ellipse((cx, cy), (0.063 * self.hp, 0.055 * self.hp), lk.hat_color, a0=180, a1=360)
            if self.view == "side":
                self._seg((u + 0.02, v + 0.02), (u + 0.1, v + 0.012), shade(lk.hat_color, 0.8), 0.014)
            elif self.view == "front":
                self._seg((u - 0.05, v + 0.018), (u + 0.05, v + 0.018), shade(lk.hat_color, 0.8), 0.02)
        elif lk.hat == "bucket":
            self._poly([(u - 0.058, v + 0.012), (u + 0.058, v + 0.012), (u + 0.045, v + 0.085), (u - 0.045, v + 0.085)],
                       lk.hat_color)
            self._seg((u - 0.09, v + 0.012), (u + 0.09, v + 0.012), shade(lk.hat_color, 0.8), 0.018)
        elif lk.hat == "helmet":
            cx, cy = self.T(u, v + 0.01)
            self.cv.ellipse((cx, cy), (0.07 * self.hp, 0.07 * self.hp), lk.hat_color, a0=180, a1=360)
            self._seg((u - 0.07, v + 0.01), (u + 0.07, v + 0.01), shade(lk.hat_color, 0.6), 0.012)

    def torso(self, v0: float, v1: float, lean: float, side: bool) -> None:
        lk = self.lk
        b = lk.build
        if side:
            bw = 0.068 * b
            hips = [(-bw, v0 - 0.07), (bw * 0.95, v0 - 0.07), (bw, v0 + 0.03), (-bw, v0 + 0.03)]
            body = [(-bw, v0), (bw * 0.95, v0), (bw + lean, v1 - 0.05), (0.6 * bw + lean, v1),
                    (-0.7 * bw + lean, v1), (-bw + lean, v1 - 0.05)]
        else:
            hw, sw = 0.085 * b, 0.112 * b
            hips = [(-hw, v0 - 0.07), (hw, v0 - 0.07), (hw, v0 + 0.03), (-hw, v0 + 0.03)]
            body = [(-hw, v0), (hw, v0), (sw, v1 - 0.05), (sw * 0.88, v1), (-sw * 0.88, v1), (-sw, v1 - 0.05)]
        self._poly(hips, lk.pants)
        self._poly(body, lk.shirt)
        if lk.legwear == "skirt":
            self._poly([(-0.085 * b, v0), (0.085 * b, v0), (0.12 * b, v0 - 0.22), (-0.12 * b, v0 - 0.22)], lk.pants)

    def bag_back(self, v0: float, v1: float, lean: float) -> None:
        if self.lk.bag != "backpack":
            return
        if self.view == "side":
            bw = 0.068 * self.lk.build
            self._poly([(-bw - 0.07 + lean, v0 + 0.06), (-bw + 0.01 + lean, v0 + 0.06), (-bw + 0.01 + lean, v1 - 0.04),
                        (-bw - 0.06 + lean, v1 - 0.05)], self.lk.bag_color)
        elif self.view == "back":
            self._poly([(-0.075, v0 + 0.05), (0.075, v0 + 0.05), (0.07, v1 - 0.04), (-0.07, v1 - 0.04)], self.lk.bag_color)

    def arm(self, sh, el, hd, far: bool = False) -> None:
        lk = self.lk
        lower = lk.shirt if lk.sleeves == "long" else lk.skin
        self._limb(sh, el, hd, lk.shirt, lower, 0.048 * lk.build, far)
        self.cv.circle(self.T(*hd), 0.024 * self.hp, shade(lk.skin, 0.78 if far else 1.0))

    def leg(self, hip, knee, ankle, far: bool, fwd: float = 1.0) -> None:
        lk = self.lk
        lower = lk.skin if lk.legwear in ("shorts", "skirt") else lk.pants
        self._limb(hip, knee, ankle, lk.pants if lk.legwear != "skirt" else lk.skin, lower, 0.072 * lk.build, far)
        self._shoe(ankle, far, fwd)


def draw_figure(cv: Canvas, x: float, y: float, hp: float, look: Look, *, view: str, f: int = 1,
                pose: str = "stand", phase: float = 0.0, amp: float = 0.0, arms: str = "swing",
                stool: bool = True, ride: dict | None = None) -> tuple[float, float]:
    """Draw a person with feet at (x, y), hp pixels tall; return the hands' point (for a rod)."""
    fig = Figure(cv, x, y, hp, look, view, f)
    if pose == "ride" and ride is not None:
        return _ride(fig, ride)
    if pose == "sit":
        return _sit(fig, stool, arms)
    if view == "side":
        return _side(fig, phase, amp, arms)
    return _frontal(fig, phase, amp, arms)


def _side(fig: Figure, phase: float, amp: float, arms: str) -> tuple[float, float]:
    lk = fig.lk
    hip = (0.0, 0.52)
    legs = []
    for far in (True, False):
        ph = phase + (math.pi if far else 0.0)
        s = amp * math.sin(ph)
        bend = 1.1 * amp * max(0.0, math.cos(ph))
        knee = (hip[0] + 0.255 * math.sin(s), hip[1] - 0.255 * math.cos(s))
        ankle = (knee[0] + 0.245 * math.sin(s - bend), knee[1] - 0.245 * math.cos(s - bend))
        legs.append((far, knee, ankle))
    fig.drop = min(a[1] for _, _, a in legs) - 0.025
    lean = 0.015 + 0.035 * min(amp / 0.45, 1.5)
    sh = (lean - 0.005, 0.785)
    a = -0.9 * amp * math.sin(phase)
    arm_pts = []
    for far, sgn in ((True, -1.0), (False, 1.0)):
        if arms == "rod":
            el, hd = (sh[0] + 0.06, sh[1] - 0.14), (sh[0] + 0.2, sh[1] - 0.21)
        else:
            aa = a * sgn
            el = (sh[0] + 0.16 * math.sin(aa), sh[1] - 0.16 * math.cos(aa))
            b2 = aa + 0.12 + 0.5 * amp
            hd = (el[0] + 0.15 * math.sin(b2), el[1] - 0.15 * math.cos(b2))
        arm_pts.append((far, el, hd))
    far_arm = arm_pts[0]
    fig.arm(sh, far_arm[1], far_arm[2], far=True)
    fig.leg(hip, legs[0][1], legs[0][2], far=True)
    fig.bag_back(0.5, 0.8, lean)
    fig.torso(0.5, 0.815, lean, side=True)
    fig.leg(hip, legs[1][1], legs[1][2], far=False)
    fig._seg((lean * 0.9, 0.8), (lean, 0.85), lk.skin, 0.04)
    fig.head((lean + 0.012, 0.905))
    if lk.bag == "shoulder":
        fig._seg((lean - 0.05, 0.79), (0.06, 0.5), shade(lk.bag_color, 0.8), 0.012)
        fig._poly([(0.02, 0.52), (0.11, 0.52), (0.11, 0.44), (0.02, 0.44)], lk.bag_color)
    fig.arm(sh, arm_pts[1][1], arm_pts[1][2])
    return fig.T(*arm_pts[1][2])


def _frontal(fig: Figure, phase: float, amp: float, arms: str) -> tuple[float, float]:
    lk, b = fig.lk, fig.lk.build
    for i, su in enumerate((-1.0, 1.0)):
        lift = 0.05 * min(amp / 0.45, 1.3) * max(0.0, math.sin(phase + i * math.pi))
        hip = (su * 0.045 * b, 0.5)
        ankle = (su * 0.052 * b, 0.03 + lift)
        knee = (su * 0.05 * b, 0.27 + lift * 0.6)
        fig.leg(hip, knee, ankle, far=False)
    fig.torso(0.5, 0.815, 0.0, side=False)
    fig.bag_back(0.5, 0.8, 0.0)
    fig._seg((0.0, 0.8), (0.0, 0.85), lk.skin, 0.045)
    hands = (0.06, 0.56)
    for i, su in enumerate((-1.0, 1.0)):
        sh = (su * 0.105 * b, 0.78)
        if arms == "rod":
            if fig.view == "back":  # hands are in front of the body: only upper arms show
                fig._seg(sh, (su * 0.12 * b, 0.64), lk.shirt, 0.048 * b)
            else:
                fig.arm(sh, (su * 0.12 * b, 0.64), (su * 0.04, 0.56))
            continue
        sw = 0.04 * min(amp / 0.45, 1.3) * math.sin(phase + i * math.pi)
        fig.arm(sh, (su * 0.13 * b, 0.635 + sw * 0.5), (su * 0.128 * b, 0.49 + sw))
    if lk.bag == "shoulder":
        fig._seg((-0.09, 0.79), (0.1, 0.5), shade(lk.bag_color, 0.8), 0.012)
        fig._poly([(0.09, 0.53), (0.16, 0.53), (0.16, 0.45), (0.09, 0.45)], lk.bag_color)
    fig.head((0.0, 0.905))
    return fig.T(*hands)


def _stool(fig: Figure, du: float = 0.0) -> None:
    cv = fig.cv
    cur = cv.cur
    cv.scenery()
    col = (40, 90, 160) if fig.lk.build > 1.05 else (60, 60, 170)
    fig._poly([(du - 0.1, 0.26), (du + 0.1, 0.26), (du + 0.1, 0.23), (du - 0.1, 0.23)], col)
    for a, b in ((-0.08, -0.1), (0.08, 0.1)):
        fig._seg((du + a, 0.24), (du + b, 0.0), shade(col, 0.7), 0.018)
    cv.cur = cur


def _sit(fig: Figure, stool: bool, arms: str) -> tuple[float, float]:
    lk, b = fig.lk, fig.lk.build
    if fig.view == "side":
        if stool:
            _stool(fig, -0.03)
        hip = (0.0, 0.29)
        for far, du in ((True, -0.025), (False, 0.0)):
            knee = (0.235 + du, 0.31)
            ankle = (0.25 + du, 0.035)
            fig.leg((hip[0] + du, hip[1]), knee, ankle, far=far)
        lean = 0.05
        fig.bag_back(0.29, 0.59, lean)
        fig.torso(0.3, 0.6, lean, side=True)
        sh = (lean, 0.57)
        hd = (0.21, 0.42) if arms == "rod" else (0.21, 0.33)
        el = ik2(sh, hd, 0.16, 0.15, -1.0)
        fig.arm(sh, el, hd, far=True)
        fig._seg((lean, 0.58), (lean + 0.005, 0.63), lk.skin, 0.04)
        fig.head((lean + 0.015, 0.69))
        fig.arm(sh, el, hd)
        return fig.T(*hd)
    if fig.view == "back":
        if stool:
            _stool(fig)
        for su in (-1.0, 1.0):  # the shoes show beside the stool
            fig._shoe((su * 0.09, 0.03), far=True)
        fig._poly([(-0.1 * b, 0.25), (0.1 * b, 0.25), (0.1 * b, 0.34), (-0.1 * b, 0.34)], lk.pants)
        fig.torso(0.31, 0.6, 0.0, side=False)
        fig.bag_back(0.3, 0.6, 0.0)
        for su in (-1.0, 1.0):
            fig._seg((su * 0.1 * b, 0.57), (su * 0.12 * b, 0.43 if arms != "rod" else 0.45), lk.shirt, 0.048 * b)
        fig._seg((0.0, 0.59), (0.0, 0.63), lk.skin, 0.045)
        fig.head((0.0, 0.695))
        return fig.T(0.05, 0.42)
    # front: the stool shows either side, the thighs point at the camera (a lap), shins go down
    if stool:
        cur = fig.cv.cur
        fig.cv.scenery()
        fig._poly([(-0.15, 0.3), (0.15, 0.3), (0.15, 0.26), (-0.15, 0.26)], (60, 60, 170))
        for su in (-1.0, 1.0):
            fig._seg((su * 0.13, 0.27), (su * 0.14, 0.08), (45, 45, 120), 0.02)
        fig.cv.cur = cur
    lw = 0.1 * b
    for su in (-1.0, 1.0):
        fig._seg((su * 0.055 * b, 0.23), (su * 0.06 * b, 0.04), fig.lk.skin if lk.legwear != "pants" else lk.pants,
                 0.065 * b)
        fig._shoe((su * 0.06 * b, 0.03), far=False)
    fig._poly([(-lw, 0.34), (lw, 0.34), (lw * 1.05, 0.22), (-lw * 1.05, 0.22)], lk.pants)
    fig.torso(0.33, 0.62, 0.0, side=False)
    for su in (-1.0, 1.0):
        fig.arm((su * 0.105 * b, 0.59), (su * 0.13 * b, 0.46), (su * 0.07, 0.37))
    fig._seg((0.0, 0.61), (0.0, 0.65), lk.skin, 0.045)
    fig.head((0.0, 0.715))
    return fig.T(0.05, 0.42)


def _ride(fig: Figure, r: dict) -> tuple[float, float]:
    """Riding a tricycle: hips on the saddle, feet on the pedals, hands on the bars (all in body units)."""
    lk = fig.lk
    seat, crank, cr, ang, bars = r["seat"], r["crank"], r["crank_r"], r["crank_angle"], r["bars"]
    feet = []
    for far, off in ((True, math.pi), (False, 0.0)):
        p = (crank[0] + cr * math.cos(ang + off), crank[1] + cr * math.sin(ang + off))
        feet.append((far, p, ik2(seat, p, 0.255, 0.245, 1.0)))
    lean = 0.09
    sh = (seat[0] + lean, seat[1] + 0.29)
    el = ik2(sh, bars, 0.16, 0.15, -1.0)
    fig.arm(sh, el, bars, far=True)
    far_leg = feet[0]
    fig.leg(seat, far_leg[2], far_leg[1], far=True)
    fig.bag_back(seat[1] - 0.02, seat[1] + 0.29, lean)
    fig.torso(seat[1] + 0.01, seat[1] + 0.31, lean, side=True)
    fig.leg(seat, feet[1][2], feet[1][1], far=False)
    fig._seg((sh[0], sh[1] + 0.01), (sh[0] + 0.01, sh[1] + 0.06), lk.skin, 0.04)
    fig.head((sh[0] + 0.02, sh[1] + 0.12))
    fig.arm(sh, el, bars)
    return fig.T(*bars)
