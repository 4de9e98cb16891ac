"""A node set up to produce evidence bundles quickly, for the evidence tests.

Its model sees a person with a rod on the shore in bright frames and nothing in dark ones; its
video alternates bright and dark stretches, so every bright stretch is a violation that warns,
alerts and clears, and leaves one bundle.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.video import H264Writer

from .onnx_models import brightness_model
from .test_node_pipeline import CLASSES, PERSON, ROD

PROFILE = """
[node]
id = "ev-node"
kind = "camera"

[capture]
source = "file:{video}?loop=1&realtime=0"

[link]
enabled = false

[track]
max_lost_s = 0.5

[detect]
model = "model"
motion = {{ enabled = false }}

[evidence]
preroll_s = 1
postroll_s = 0.4
gop_s = 0.4
{evidence}

[[zones]]
name = "shore"
polygon = [[0.0, 0.60], [1.0, 0.60], [1.0, 0.80], [0.0, 0.80]]

[[rules]]
name = "no_fishing"
kind = "fishing"
zones = ["shore"]
dwell_s = 0.4
recheck_s = 0.4
clear_after_s = 0.6
"""


def blinking_video(path: Path, bright_s: float = 3.0, dark_s: float = 2.0, cycles: int = 2, fps: float = 5.0,
                   size: tuple[int, int] = (640, 360)) -> Path:
    w, h = size
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 40, (h, w, 3), np.uint8)
    with H264Writer(path, fps, size, crf=30) as writer:
        for _ in range(cycles):
            for i in range(round(bright_s * fps)):
                writer.write(np.clip(texture.astype(np.int16) + 200 + (i % 5), 0, 255).astype(np.uint8))
            for i in range(round(dark_s * fps)):
                writer.write((texture // 4 + (i % 3)).astype(np.uint8))
    return path


def evidence_node(folder: Path, evidence: str = "") -> Path:
    """A profile (and its model and video) in `folder`; returns the profile's path."""
    folder.mkdir(parents=True, exist_ok=True)
    brightness_model(folder / "model", [PERSON, ROD], CLASSES)
    video = blinking_video(folder / "blink.mp4")
    profile = folder / "node.toml"
    profile.write_text(PROFILE.format(video=video, evidence=evidence))
    return profile
