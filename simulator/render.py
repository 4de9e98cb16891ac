"""Renderer: frame i of a scenario as a BGR image plus its labels, deterministic and random-access.

Per frame: copy the cached background at the camera-shake offset, animate water, draw actors and
occluders back to front (by the y of their ground point) into image and id map, apply the brightness
gain and add sensor noise.  Every random choice comes from numpy generators seeded with the scenario
seed and stable integers (frame index, crc32 of names), never from state left by earlier frames.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from simulator.actors import build_actor
from simulator.actors.base import Ctx, stable_rng
from simulator.canvas import Canvas, Label
from simulator.faults import apply_faults, delivered, jittered
from simulator.lighting import DEFAULT_NOISE, NOISE_LAYERS, NOISE_PAD, Look, gain_at, noise_bank
from simulator.occluders import Occluder
from simulator.scenario import Scenario
from simulator.sites import Background, get_site
from simulator.weather import apply_weather

__all__ = ["Label", "RenderedFrame", "Renderer"]


@dataclass(frozen=True)
class RenderedFrame:
    index: int
    t: float
    image: np.ndarray
    labels: list[Label]


@functools.lru_cache(maxsize=8)
def _background(site: str, w: int, h: int, lighting: str, seed: int, margin: int) -> Background:
    """Static scene, padded by the shake margin; cached across renderers of the same site and seed."""
    bg = get_site(site).build(w, h, lighting, stable_rng(seed, "background", site), Look(lighting))
    img = cv2.copyMakeBorder(bg.image, margin, margin, margin, margin, cv2.BORDER_REFLECT)
    img.setflags(write=False)
    return Background(img, bg.water_y0, bg.water_y1, bg.glints, bg.ripple_amp)


class Renderer:
    """Renders frames of one scenario.  `render(i)` depends only on the scenario and i.

    A drone scenario gets a simulator.aerial.render.AerialRenderer instead: the same frame API, plus
    true_pose(i) and telemetry(i).
    """

    def __new__(cls, scenario: Scenario, seed: int | None = None):
        if cls is Renderer and getattr(scenario, "aerial", False):
            from simulator.aerial.render import AerialRenderer

            return AerialRenderer(scenario, seed)
        return super().__new__(cls)

    def __init__(self, scenario: Scenario, seed: int | None = None):
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else int(seed)
        self.fps = scenario.fps
        self.n_frames = scenario.n_frames
        self.size = scenario.size
        w, h = self.size
        self.site = get_site(scenario.site)
        self.lighting = scenario.lighting
        self.look = Look(self.lighting)
        self.ctx = Ctx(w, h, self.site, self.lighting, self.seed)
        cam = scenario.camera
        self.shake = cam.shake_px * h / 720.0
        self.margin = int(np.ceil(self.shake)) + 2
        self.noise = DEFAULT_NOISE[self.lighting] if cam.noise is None else cam.noise
        self.actors = [build_actor(a, self.ctx, scenario.duration_s) for a in scenario.all_actors()]
        self.occluders = [Occluder(o, i, self.ctx) for i, o in enumerate(scenario.occluders)]
        self._bg: Background | None = None
        self._noise = None

    @property
    def background(self) -> Background:
        """Built on first use and kept by this renderer (the shared cache only avoids rebuilding it)."""
        if self._bg is None:
            w, h = self.size
            self._bg = _background(self.site.name, w, h, self.lighting, self.seed, self.margin)
        return self._bg

    @property
    def noise_layers(self):
        if self._noise is None:
            w, h = self.size
            self._noise = noise_bank(w, h, int(round(self.noise * 10)), self.lighting == "night")
        return self._noise

    def frame_time(self, index: int) -> float:
        """When frame `index` was taken (fps jitter included)."""
        return jittered(self.scenario.camera_faults, index / self.fps, self.fps, self.seed, index)

    def delivered(self, index: int) -> bool:
        """Whether frame `index` reaches the node (a `drop` camera fault loses some)."""
        return delivered(self.scenario.camera_faults, index / self.fps, self.seed, index)

    def render(self, index: int, actors: bool = True) -> RenderedFrame:
        """Frame `index`; with actors=False the same frame (shake, noise, occluders) without actors."""
        if not 0 <= index < self.n_frames:
            raise IndexError(f"frame {index} is outside 0..{self.n_frames - 1}")
        w, h = self.size
        t = self.frame_time(index)
        rng = stable_rng(self.seed, "frame", index)
        sx, sy = (int(v) for v in np.clip(np.rint(rng.normal(0, self.shake / 2, 2)), -self.shake, self.shake))
        bg = self.background
        m = self.margin
        img = bg.image[m - sy: m - sy + h, m - sx: m - sx + w].copy()
        if bg.water_y0 is not None:
            self._animate_water(img, bg, t, sx, sy)
        ids = np.zeros((h, w), np.uint8)
        cv = Canvas(img, ids, (sx, sy), self.look.tone)
        cv.mono = self.lighting == "night"
        items = [(o.depth, 1, i, o) for i, o in enumerate(self.occluders)]
        if actors:
            items += [(a.depth(t), 0, i, a) for i, a in enumerate(self.actors) if a.alive(t)]
        for *_, item in sorted(items, key=lambda it: it[:3]):
            item.draw(cv, t, self.ctx)
        sc = self.scenario
        if sc.weather.rain or sc.weather.fog or sc.weather.glare:
            apply_weather(img, t, sc.weather, rng)
        gain = gain_at(t, self.scenario.light_changes)
        if abs(gain - 1.0) > 1e-3:
            cv2.convertScaleAbs(img, dst=img, alpha=gain)
        if self.noise > 0:
            pos, neg = self.noise_layers[int(rng.integers(NOISE_LAYERS))]
            ox, oy = (int(v) for v in rng.integers(0, 2 * NOISE_PAD + 1, 2))
            cv2.add(img, pos[oy: oy + h, ox: ox + w], dst=img)
            cv2.subtract(img, neg[oy: oy + h, ox: ox + w], dst=img)
        labels = cv.labels() if actors else []
        if sc.camera_faults:
            img, labels = apply_faults(img, labels, t, sc.camera_faults, rng)
        return RenderedFrame(index, t, img, labels)

    def _animate_water(self, img: np.ndarray, bg: Background, t: float, sx: int, sy: int) -> None:
        """Ripples: per-row horizontal wobble of the water band, plus drifting glints."""
        y0, y1 = bg.water_y0 + sy, bg.water_y1 + sy
        y0, y1 = max(y0, 0), min(y1, img.shape[0])
        if y1 <= y0:
            return
        band = img[y0:y1]
        n, w = band.shape[:2]
        rows = np.arange(n, dtype=np.float32)
        amp = bg.ripple_amp[np.clip(rows.astype(int) + (y0 - bg.water_y0 - sy), 0, len(bg.ripple_amp) - 1)]
        shift = amp * np.sin(rows * 0.9 + t * 2.1) + 0.5 * amp * np.sin(rows * 0.23 - t * 1.3)
        mx = np.arange(w, dtype=np.float32)[None, :] + shift[:, None]
        my = np.broadcast_to(rows[:, None], (n, w))
        band[:] = cv2.remap(band, mx, my.astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        pad = bg.glints[0].shape[1] - w
        k = int(t * 1.7) % len(bg.glints)
        off = int(t * 9) % max(pad, 1)
        g = bg.glints[k][y0 - bg.water_y0 - sy: y1 - bg.water_y0 - sy, off: off + w]
        if g.shape[:2] == band.shape[:2]:
            cv2.add(band, g, dst=band)
