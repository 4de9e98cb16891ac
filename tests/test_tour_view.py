"""The demo's live view in a small terminal: every number readable, the newest events, one frame count."""

from __future__ import annotations

import io
from types import SimpleNamespace

from rich.console import Console

from simulator.tour.view import View


def node(node_id: str, frames: int) -> SimpleNamespace:
    return SimpleNamespace(node_id=node_id, scenario="market_day_stall_sidewalk.toml", frames=frames,
                           scenario_frames=900, fps=27.5, phase="watching",
                           counts={"warning": 12, "spoken": 11, "alert": 10, "cleared": 9, "at_hub": 31,
                                   "produced": 31, "sealed": 10, "verified": 9, "acked": 8})


def render(width: int, height: int, events: int = 40) -> list[str]:
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, color_system=None)
    view = View(console=console, events=14)
    view.nodes = [node("reservoir-01", 907), node("market-01", 1234)]
    view.phase = "nodes running"
    for i in range(events):
        view.event("market-01", f"event number {i:03d}")
    console.print(view)
    return console.file.getvalue().splitlines()


def test_an_80x24_terminal_shows_every_count_and_the_newest_events():
    lines = render(80, 24)
    assert len(lines) <= 24, "\n".join(lines)
    table = [line.strip() for line in lines if line.strip().startswith(("reservoir-01", "market-01"))]
    assert not any("…" in line for line in lines if "frames" in line and "fps" in line), "\n".join(lines)
    assert len(table) == 2 and not any("…" in line for line in table), "\n".join(lines)
    assert "907" in table[0] and "12/11/10/9" in table[0] and "31/31" in table[0] and "10/9/8" in table[0]
    shown = [line for line in lines if "event number" in line]
    assert shown and "event number 039" in shown[-1], "\n".join(lines)  # the newest, at the bottom
    assert not any("event number 000" in line for line in lines)


def test_a_wide_terminal_shows_the_node_s_own_frame_count_with_the_progress_bar():
    lines = render(160, 40)
    text = "\n".join(lines)
    rows = [line for line in lines if line.strip().startswith(("reservoir-01", "market-01"))]
    assert " 907 " in rows[0] and " 1234 " in rows[1] and "/900" not in text and "…" not in text, text
