"""Synthetic camera scenes (reservoir, market street, and drone flights over a reservoir) with exact
labels and scripted ground truth.

Used as a live frame source (`sim:SCENARIO.toml`), to render detector training data and to score the
rule engine against the scenario's `[[truth]]` intervals.  See docs/scenarios.md.
"""

import os

from simulator.classes import CLASS_INDEX, CLASSES

# The nodes the simulator starts (edge-node run --source sim:...) find its frame source through the
# `edge.frame_sources` entry point; this covers an installed metadata older than that entry point.
os.environ.setdefault("EDGE_FRAME_SOURCES", "sim=simulator.capture:open_sim")

__all__ = ["CLASSES", "CLASS_INDEX"]
