"""Motorbikes and scooters seen from the side (class `vehicle`), with the rider as a `person`.

A parked scooter in a fire lane is parking like a car; a moving one is traffic.  The rider is
labelled `<id>.rider` like a tricycle's, so a detector learns that a person riding is still a person.
"""

from __future__ import annotations

import math

from simulator.actors.base import Actor, Ctx, shadow_alpha
from simulator.actors.figure import draw_figure, random_look
from simulator.canvas import Canvas
from simulator.palette import BRIGHT, jitter, parse_color, pick, shade


class Motorbike(Actor):
    kind = "motorbike"

    def __init__(self, spec, ctx: Ctx, duration_s: float):
        super().__init__(spec, ctx, duration_s)
        rng = self.rng
        self.style = spec.style if spec.style != "auto" else ("scooter" if rng.random() < 0.5 else "motorbike")
        self.color = parse_color(spec.color) if spec.color else jitter(rng, pick(rng, BRIGHT + [(30, 30, 30)]), 10)
        self.rider_look = random_look(rng, hat_p=(0.1, 0.05, 0.05, 0.8, 0.0))
        self.default_f = 1 if rng.random() < 0.5 else -1

    def draw(self, cv: Canvas, t: float, ctx: Ctx) -> None:
        x, y, ppm = self.place(cv, t, ctx)
        f = {"left": -1, "right": 1}.get(self.spec.facing, self.path.heading(t, self.default_f))
        moving = self.path.moving(t)
        dist = self.path.metres(t)

        def P(u: float, v: float) -> tuple[float, float]:  # u forward from the middle, v up, metres
            return x + u * ppm * f, y - v * ppm

        sa = shadow_alpha(ctx.lighting)
        if sa:
            cv.shadow(x, y, 1.0 * ppm, 0.1 * ppm, sa)
        scooter = self.style == "scooter"
        wr = 0.24 if scooter else 0.31
        rear, front = -0.62, 0.62
        seat, bars, peg = (-0.15, 0.78 if scooter else 0.85), (0.45, 1.05), (0.0, 0.35)
        th = max(2.0, 0.05 * ppm)
        bid = cv.begin("vehicle", self.id)
        for u in (rear, front):
            c = P(u, wr)
            cv.circle(c, wr * ppm, (25, 25, 25))
            cv.circle(c, wr * 0.55 * ppm, (150, 150, 150))
            a = dist / wr
            cv.line(c, (c[0] + wr * 0.5 * ppm * math.cos(a), c[1] + wr * 0.5 * ppm * math.sin(a)), (90, 90, 90), th * 0.6)
        if scooter:  # a step-through body: a low floor and a fairing to the bars
            cv.poly([P(rear + 0.05, 0.35), P(-0.45, 0.72), P(0.05, 0.72), P(0.15, 0.33)], self.color)
            cv.poly([P(0.3, 0.3), P(0.52, 0.32), P(0.5, 1.0), P(0.38, 1.0)], self.color)
        else:  # tank, engine block, exhaust
            cv.poly([P(-0.2, 0.78), P(0.35, 0.82), P(0.32, 0.62), P(-0.12, 0.6)], self.color)
            cv.rect(*P(-0.25, 0.6), *P(0.2, 0.3), (60, 60, 62))
            cv.line(P(-0.2, 0.3), P(rear - 0.05, 0.35), (170, 170, 170), th)
            cv.line(P(front, wr), P(0.4, 0.95), (120, 120, 120), th)
        cv.line(P(rear, wr), P(-0.1, 0.55), shade(self.color, 0.7), th)
        cv.rect(*P(seat[0] - 0.25, seat[1] + 0.06), *P(seat[0] + 0.2, seat[1]), (25, 25, 25))
        cv.line(P(bars[0] - 0.05, bars[1] - 0.02), P(bars[0] + 0.1, bars[1] + 0.02), (30, 30, 30), th)
        cv.end()
        rider = self.spec.rider == "always" or (self.spec.rider == "moving" and moving)
        if rider:
            hp = ppm * self.rider_look.height_m
            s = 1.0 / self.rider_look.height_m
            cv.begin("person", f"{self.id}.rider")
            draw_figure(cv, x, y, hp, self.rider_look, view="side", f=f, pose="ride", ride={
                "seat": (seat[0] * s, (seat[1] + 0.06) * s), "crank": (peg[0] * s, peg[1] * s),
                "crank_r": 0.02 * s, "crank_angle": 0.0, "bars": (bars[0] * s, bars[1] * s)})
            cv.end()
            cv.resume(bid)
            cv.line(P(bars[0] - 0.05, bars[1] - 0.02), P(bars[0] + 0.1, bars[1] + 0.02), (30, 30, 30), th)
            cv.end()
        lights = self.spec.lights == "on" or (self.spec.lights == "auto" and moving and ctx.lighting != "day")
        if lights:
            head = P(0.55, 0.95)
            cv.glow(head[0], head[1], 0.45 * ppm, (220, 235, 245), 1.2)
