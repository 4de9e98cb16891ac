"""`sim:SCENARIO.toml` source: the scene simulator as a camera.

Frames carry the scenario's own clock (its `start` plus scene time) as wall time, so schedules
(night-only rules, market hours) behave as the scenario scripts them.

The node knows nothing of the simulator: this module registers the `sim` scheme with the node's
source registry (edge.capture.registry) through the `edge.frame_sources` entry point, or the
EDGE_FRAME_SOURCES variable where the installed metadata predates it (see `ENV_SPEC`).
"""

from __future__ import annotations

import time
from pathlib import Path

from edge.capture.base import Capture, FrameSource, SourceError

#: EDGE_FRAME_SOURCES entry for this source (what the simulator sets for the nodes it starts)
ENV_SPEC = "sim=simulator.capture:open_sim"


class SimSource(FrameSource):
    live = False

    def __init__(self, path: str | Path, *, loop: bool = False, **kwargs):
        super().__init__(f"sim:{path}", **kwargs)
        self.path = Path(path)
        self.loop = loop
        self._renderer = None
        self._index = 0
        self._loops = 0
        self._t0_mono = 0.0
        self._start_wall = 0.0
        self.scenario = None
        # A drone scenario's telemetry sample for each frame, handed over before the frame is.
        self.on_telemetry = None

    def feed_telemetry(self, callback) -> bool:
        if not self.aerial:
            return False
        self.on_telemetry = callback
        return True

    @property
    def aerial(self) -> bool:
        return bool(getattr(self._renderer, "aerial", False))

    def _preflight(self) -> None:
        from .render import Renderer
        from .scenario import ScenarioError, load_scenario

        if not self.path.is_file():
            raise SourceError(f"{self.name}: not found")
        try:
            self.scenario = load_scenario(self.path)
        except ScenarioError as exc:
            raise SourceError(str(exc)) from None
        self._renderer = Renderer(self.scenario)
        self._start_wall = self.scenario.start.timestamp()

    def _open(self) -> None:
        self._index = 0
        self._t0_mono = time.monotonic()

    def _grab(self) -> Capture | None:
        renderer = self._renderer
        if self._index >= renderer.n_frames:
            if not self.loop:
                return None
            self._index = 0
            self._loops += 1
        rendered = renderer.render(self._index)
        self._index += 1
        scene_t = self._loops * renderer.n_frames / renderer.fps + rendered.t
        mono = self._t0_mono + scene_t
        if self.realtime and not self._sleep_until(mono):
            return None
        if self.on_telemetry is not None and self.aerial:
            loop_wall = self._start_wall + self._loops * renderer.n_frames / renderer.fps
            self.on_telemetry(renderer.telemetry_at(rendered.t, loop_wall))
        return Capture(rendered.image, mono=mono, wall=self._start_wall + scene_t)


def open_sim(spec, config, *, loop: bool, **common) -> SimSource:
    """The registry's factory for `sim:PATH.toml` (edge.capture.registry.Factory)."""
    return SimSource(spec.target, loop=loop, **common)
