"""AerialRenderer: frame i of a drone scenario, its labels, the true camera pose and the telemetry.

Per frame: the camera pose at t (true, from the flight keyframes) gives the ground-plane homography;
the cached orthophoto is warped through it (coarser levels for the far rows), sun glitter is added on
the water, actors are projected and drawn far to near into image and id map, then brightness and
sensor noise.  Everything random is seeded by (seed, names, frame index): render(i) is random-access.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections import OrderedDict

import cv2
import numpy as np

from edge.geo import CameraPose, ground_sample_distance, pixel_to_ground
from simulator.actors.base import stable_rng
from simulator.aerial.actors import Ctx, build
from simulator.aerial.flight import Flight
from simulator.aerial.ortho import Ortho, build_ortho
from simulator.aerial.view import View, warp_ground
from simulator.canvas import Canvas
from simulator.lighting import DEFAULT_NOISE, NOISE_LAYERS, NOISE_PAD, Look, gain_at, noise_bank
from simulator.render import RenderedFrame

MAX_VIEW_M = 300.0  # ground further than this from the drone is not in the orthophoto (haze colour)
MAX_ORTHO_PX = 12_000_000  # pixel budget of the finest orthophoto level
_GLINT = {"day": (80, 80, 78), "dusk": (24, 46, 70), "night": (10, 10, 10)}
_SKY = {"day": ((232, 196, 150), (236, 226, 214)), "dusk": ((170, 120, 110), (130, 190, 250)),
        "night": ((40, 40, 40), (60, 60, 60))}
_ORTHOS: OrderedDict[str, Ortho] = OrderedDict()


class AerialRenderer:
    """Renders a drone scenario; the same API as simulator.render.Renderer plus pose and telemetry."""

    aerial = True

    def __init__(self, scenario, seed: int | None = None):
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else int(seed)
        self.fps = scenario.fps
        self.n_frames = scenario.n_frames
        self.size = scenario.size
        self.lighting = scenario.lighting
        self.look = Look(self.lighting)
        self.frame = scenario.frame
        self.flight = Flight(scenario, self.seed)
        self.hfov_deg = scenario.drone.hfov_deg
        sun_rng = stable_rng(self.seed, "sun")
        elevation = {"day": sun_rng.uniform(40, 65), "dusk": sun_rng.uniform(7, 14), "night": 0.0}[self.lighting]
        self.sun = (float(sun_rng.uniform(100, 250)), float(elevation))
        self.polygons = {name: np.array([self.frame.to_enu(lat, lon) for lat, lon in poly])
                         for name, poly in scenario.world.polygons().items()}
        self.ctx = Ctx(self.seed, self.lighting, self.sun, self.polygons["water"], self.frame, scenario.duration_s)
        self.actors = [build(a, self.ctx) for a in scenario.actors]
        cam = scenario.camera
        self.noise = DEFAULT_NOISE[self.lighting] if cam.noise is None else cam.noise
        self._ortho: Ortho | None = None

    # ------------------------------------------------------------ pose and telemetry

    def frame_time(self, index: int) -> float:
        return index / self.fps

    def pose_at(self, t: float) -> CameraPose:
        return self.flight.pose(t, self.size)

    def true_pose(self, index: int) -> CameraPose:
        """The exact pose frame `index` is rendered from (edge.geo.CameraPose, local metres)."""
        return self.pose_at(self.frame_time(index))

    def telemetry_at(self, t: float, wall0: float | None = None) -> dict:
        return self.flight.sample(t, wall0)

    def telemetry(self, index: int) -> dict:
        """What the drone reports for frame `index`: {t, wall, lat, lon, altitude_m, heading_deg,
        gimbal_pitch_deg, hfov_deg}, the true pose plus the scenario's telemetry noise."""
        return self.flight.sample(self.frame_time(index))

    def actor_latlon(self, actor_id: str, t: float) -> tuple[float, float] | None:
        """Where an actor is on the ground at scene time t, in [lat, lon] (None when not there)."""
        for actor in self.actors:
            if actor.id == actor_id and actor.alive(t):
                return self.frame.to_latlon(*actor.ground(t))
        return None

    def true_telemetry(self, index: int) -> dict:
        s = self.flight.state(self.frame_time(index))
        return {"lat": round(s.lat, 8), "lon": round(s.lon, 8), "altitude_m": round(s.altitude_m, 3),
                "heading_deg": round(s.heading_deg, 3), "gimbal_pitch_deg": round(s.pitch_deg, 3)}

    # ------------------------------------------------------------ orthophoto

    @property
    def ortho(self) -> Ortho:
        """Built on first use; shared by renderers of the same world, flight, size and seed."""
        if self._ortho is None:
            extent, res, clear = self._coverage()
            key = hashlib.sha256(json.dumps([self.scenario.world.model_dump(mode="json"), extent, res,
                                             self.lighting, self.seed, self.sun, [c.tolist() for c in clear]],
                                            sort_keys=True).encode()).hexdigest()
            if key not in _ORTHOS:
                rng = stable_rng(self.seed, "ortho")
                _ORTHOS[key] = build_ortho(self.polygons, extent, res, self.lighting, rng, self.sun, clear,
                                           self.scenario.world.clutter)
                while len(_ORTHOS) > 2:
                    _ORTHOS.popitem(last=False)
            self._ortho = _ORTHOS[key]
        return self._ortho

    def _coverage(self) -> tuple[tuple[float, float, float, float], float, list[np.ndarray]]:
        """The ground the flight can see (clipped at MAX_VIEW_M), the finest resolution it needs, and
        the actors' ways (kept clear of trees)."""
        w, h = self.size
        times = sorted(set(np.arange(0.0, self.scenario.duration_s + 1e-9, 1.0).tolist())
                       | {k[0] for k in self.scenario.drone.path if k[0] <= self.scenario.duration_s})
        border = ([(u, v) for u in np.linspace(0, w, 9) for v in (0.0, float(h))]
                  + [(u, v) for u in (0.0, float(w)) for v in np.linspace(0, h, 7)])
        pts, finest = [], math.inf
        for t in times:
            pose = self.pose_at(t)
            nadir = np.array([pose.east, pose.north])
            f, r, d = pose.axes()
            for u, v in border:
                g = pixel_to_ground(pose, u, v)
                if g is None or math.dist(g, nadir) > MAX_VIEW_M:
                    ray = f + ((u - w / 2) / pose.focal) * r + ((v - h / 2) / pose.focal) * d
                    horiz = ray[:2] / max(np.hypot(*ray[:2]), 1e-9)
                    g = tuple(nadir + horiz * MAX_VIEW_M)
                pts.append(g)
            pts.append(tuple(nadir))
            gsd = ground_sample_distance(pose, w / 2, h - 0.5)
            if gsd:
                finest = min(finest, gsd)
        clear = [np.array(a.path.p, np.float64) for a in self.actors]
        for line in clear:
            pts += [tuple(p) for p in line]
        a = np.array(pts)
        west, south = (a.min(axis=0) - 15).tolist()
        east, north = (a.max(axis=0) + 15).tolist()
        area = (east - west) * (north - south)
        res = max(finest * 1.2 if math.isfinite(finest) else 0.1, math.sqrt(area / MAX_ORTHO_PX), 0.03)
        res = float(f"{res:.4g}")
        return (round(west, 1), round(south, 1), round(east, 1), round(north, 1)), res, clear

    # ------------------------------------------------------------ frames

    def render(self, index: int, actors: bool = True) -> RenderedFrame:
        """Frame `index`; with actors=False the same frame (ground, glitter, noise) without actors."""
        if not 0 <= index < self.n_frames:
            raise IndexError(f"frame {index} is outside 0..{self.n_frames - 1}")
        w, h = self.size
        t = self.frame_time(index)
        rng = stable_rng(self.seed, "frame", index)
        view = View(self.true_pose(index))
        ground = warp_ground(view, self.ortho)
        img = cv2.cvtColor(ground, cv2.COLOR_BGRA2BGR)
        top = view.sky_rows
        if top > 0:
            self._sky(img, top)
        water = np.ascontiguousarray(ground[..., 3])
        layers = _glints(w, h, self.lighting, self.seed)
        pad = layers[0].shape[1] - w
        glint = layers[int(t * 1.7) % len(layers)]
        off = int(t * 9) % max(pad, 1)
        cv2.add(img, np.ascontiguousarray(glint[:, off: off + w]), dst=img, mask=water)
        ids = np.zeros((h, w), np.uint8)
        cv = Canvas(img, ids, (0, 0), self.look.tone)
        cv.mono = self.lighting == "night"
        cv.light = 0.8 if self.lighting == "night" else 1.0
        if actors:
            items = []
            for a in self.actors:
                if not a.alive(t):
                    continue
                e, n = a.ground(t)
                uv = view.uv([(e, n, 0.0)])[0]
                reach = 12.0 * view.ppm((e, n, 0.0)) if not np.isnan(uv).any() else 0
                if np.isnan(uv).any() or not (-reach <= uv[0] <= w + reach and -reach <= uv[1] <= h + reach):
                    continue
                items.append((-a.depth(t, view), a.id, a))
            for *_, a in sorted(items, key=lambda it: it[:2]):
                a.draw(cv, t, view, self.ctx)
        if self.scenario.world.trees:
            self._canopies(cv, view)
        gain = gain_at(t, self.scenario.light_changes)
        if abs(gain - 1.0) > 1e-3:
            cv2.convertScaleAbs(img, dst=img, alpha=gain)
        if self.noise > 0:
            pos, neg = noise_bank(w, h, int(round(self.noise * 10)), self.lighting == "night")[
                int(rng.integers(NOISE_LAYERS))]
            ox, oy = (int(v) for v in rng.integers(0, 2 * NOISE_PAD + 1, 2))
            cv2.add(img, pos[oy: oy + h, ox: ox + w], dst=img)
            cv2.subtract(img, neg[oy: oy + h, ox: ox + w], dst=img)
        labels = cv.labels() if actors else []
        return RenderedFrame(index, t, img, labels)

    def _canopies(self, cv: Canvas, view: View) -> None:
        """Hand-placed trees: crowns drawn at their height over whatever stands below (scenery, so
        the labels of people under them shrink or go)."""
        frame = self.scenario.frame
        cv.scenery()
        for k, tree in enumerate(self.scenario.world.trees):
            e, n = frame.to_enu(*tree.at)
            uv = view.uv([(e, n, tree.height_m)])[0]
            if np.isnan(uv).any():
                continue
            r = tree.radius_m * view.ppm((e, n, tree.height_m))
            rng = stable_rng(self.seed, "canopy", k)
            base = (38, 84, 46) if self.lighting != "night" else (70, 70, 70)
            cv.circle((uv[0], uv[1]), r * 0.8, base)
            for _ in range(9):
                a, d = rng.uniform(0, 2 * np.pi), r * 0.5 * np.sqrt(rng.random())
                shade = tuple(int(c * rng.uniform(0.85, 1.3)) for c in base)
                cv.circle((uv[0] + d * np.cos(a), uv[1] + d * np.sin(a)), r * rng.uniform(0.35, 0.55), shade)
        cv.image_only()

    def _sky(self, img: np.ndarray, top: int) -> None:
        """Sky above the horizon: haze at the horizon fading to the sky colour at the top."""
        hi, lo = (np.array(c, np.float32) for c in _SKY[self.lighting])
        f = np.linspace(0, 1, top, dtype=np.float32)[:, None] ** 0.6
        img[:top] = (hi * (1 - f) + lo * f)[:, None, :].astype(np.uint8)


@functools.lru_cache(maxsize=4)
def _glints(w: int, h: int, lighting: str, seed: int) -> tuple[np.ndarray, ...]:
    """Sun glitter on the water, in image space (it depends on the view, not the ground): a few padded
    layers of sparkles; a frame picks one at a drifting offset and adds it where the ground is water."""
    rng = stable_rng(seed, "glints", w, h)
    pad = max(int(64 * w / 1280), 8)
    col = np.array(_GLINT[lighting], np.float32)
    out = []
    k = h / 720
    for _ in range(4):
        layer = np.zeros((h, w + pad, 3), np.uint8)
        for _ in range(int(900 * w * h / (1280 * 720))):
            x, y = rng.uniform(0, w + pad), rng.uniform(0, h)
            ln = rng.uniform(0.5, 4.0) * k
            c = tuple(int(v) for v in col * rng.uniform(0.3, 1.0))
            cv2.line(layer, (int(x * 16), int(y * 16)), (int((x + ln) * 16), int(y * 16)), c, 1, cv2.LINE_AA, 4)
        layer.setflags(write=False)
        out.append(layer)
    return tuple(out)
