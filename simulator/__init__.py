"""Synthetic camera scenes (reservoir, market street, and drone flights over a reservoir) with exact
labels and scripted ground truth.

Used as a live frame source (`sim:SCENARIO.toml`), to render detector training data and to score the
rule engine against the scenario's `[[truth]]` intervals.  See docs/scenarios.md.
"""

from simulator.classes import CLASS_INDEX, CLASSES

__all__ = ["CLASSES", "CLASS_INDEX"]
