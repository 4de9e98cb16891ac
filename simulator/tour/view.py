"""What the tour shows: a live view in a terminal (rich), plain progress lines anywhere else (CI logs,
tests), and the summary table at the end."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

PLAIN_WIDTH = 160  # tables in logs: wide enough for the summary, no colours
PROGRESS_EVERY_S = 10.0
WIDE = 120  # narrower terminals (80x24) get the compact table


def make_console(plain: bool = False) -> Console:
    console = Console()
    if plain or not console.is_terminal:
        console = Console(width=PLAIN_WIDTH, no_color=True, highlight=False)
    return console


class View:
    def __init__(self, console: Console | None = None, events: int = 14, plain: bool = False):
        self.console = console or make_console(plain)
        self.live_mode = self.console.is_terminal
        self.started = time.monotonic()
        self.nodes: list = []
        self.hub = None
        self.phase = ""
        self._events: deque[Text] = deque(maxlen=events)
        self._lock = threading.Lock()
        self._live: Live | None = None
        self._last_progress = 0.0

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    # --- lines ----------------------------------------------------------------------------------
    def say(self, text: str = "", style: str | None = None) -> None:
        self.console.print(Text(text, style=style or ""), soft_wrap=True)

    def step(self, text: str) -> None:
        self.say()
        self.say(text, "bold")

    def event(self, source: str, text: str, style: str = "") -> None:
        """Something happened (any thread): a line in plain mode, the latest-events list in the live view."""
        line = Text.assemble((f"{self.elapsed:6.1f}s ", "dim"), (f"{source:13} ", "bold"), (text, style))
        with self._lock:
            self._events.append(line)
            if not self.live_mode:
                self.console.print(Text("  ") + line, soft_wrap=True)

    # --- the live part --------------------------------------------------------------------------
    @contextlib.contextmanager
    def live(self, phase: str):
        self.phase = phase
        self._last_progress = time.monotonic()
        if not self.live_mode:
            yield self
            return
        with Live(self, console=self.console, refresh_per_second=4, transient=False) as live:
            self._live = live
            try:
                yield self
            finally:
                self._live = None

    def tick(self) -> None:
        """Called often: in plain mode a progress line now and then."""
        if self.live_mode or time.monotonic() - self._last_progress < PROGRESS_EVERY_S:
            return
        self._last_progress = time.monotonic()
        parts = []
        for n in self.nodes:
            c = n.counts
            parts.append(f"{n.node_id} {n.frames} frames "
                         f"{n.fps:.0f} fps {n.phase}, {c.get('warning', 0)} warn {c.get('alert', 0)} alert, "
                         f"evidence {c.get('verified', 0)}/{c.get('sealed', 0)} at hub")
        with self._lock:
            self.console.print(Text(f"  {self.elapsed:6.1f}s progress: " + " | ".join(parts), style="dim"),
                               soft_wrap=True)

    def __rich__(self) -> Group:
        width, height = self.console.size
        header = Text.assemble(("edge demo ", "bold"), (f"{self.phase}  ", ""),
                               (f"{self.elapsed:.0f} s", "dim"))
        if self.hub is not None and self.hub.broker is not None:
            header.append(f"   hub: broker {self.hub.broker.address}, nodes online: "
                          f"{', '.join(sorted(self.hub.online)) or '-'}", style="dim")
        header.truncate(width, overflow="ellipsis")
        table = self._table(width)
        # The events fill what the terminal has left, newest at the bottom (rich crops the bottom of
        # what does not fit, which would hide the newest ones): header, table head and rule, rows, the
        # panel's two borders.
        rows_used = 1 + 3 + len(self.nodes) * (1 if width < WIDE else 2) + 2
        room = max(1, height - rows_used - 1)
        with self._lock:
            newest = list(self._events)[-room:]
        events = Text("\n").join(e.copy() for e in newest) if newest else Text("waiting...", style="dim")
        events.no_wrap, events.overflow = True, "ellipsis"
        return Group(header, table, Panel(events, title="latest events: nodes, loudspeakers and hub",
                                          title_align="left", border_style="dim"))

    def _table(self, width: int) -> Table:
        """The node table; below WIDE columns the counts share short columns, so no number becomes
        "…" in an 80-column terminal. Frames are the node's own count (what the summary shows too)."""
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        if width >= WIDE:
            columns = (("node", "left"), ("scenario", "left"), ("scenario played", "left"), ("frames", "right"),
                       ("fps", "right"),
                       ("state", "left"), ("warnings", "right"), ("spoken", "right"), ("alerts", "right"),
                       ("cleared", "right"), ("at hub", "right"), ("bundles sealed/at hub/acked", "right"))
        else:
            columns = (("node", "left"), ("frames", "right"), ("fps", "right"), ("state", "left"),
                       ("warn/spk/alrt/clr", "right"), ("at hub", "right"), ("evidence", "right"))
        for column, justify in columns:
            table.add_column(column, justify=justify, no_wrap=width < WIDE or column in ("node", "scenario"))
        for n in self.nodes:
            c = n.counts
            counts = [str(c.get(k, 0)) for k in ("warning", "spoken", "alert", "cleared")]
            at_hub = f"{c.get('at_hub', 0)}/{c.get('produced', 0)}"
            bundles = f"{c.get('sealed', 0)}/{c.get('verified', 0)}/{c.get('acked', 0)}"
            if width >= WIDE:
                done = min(n.frames, n.scenario_frames)
                table.add_row(n.node_id, n.scenario.removesuffix(".toml"),
                              ProgressBar(total=n.scenario_frames or 1, completed=done, width=18),
                              str(n.frames), f"{n.fps:.1f}", n.phase, *counts, at_hub, bundles)
            else:
                table.add_row(n.node_id, str(n.frames), f"{n.fps:.0f}", n.phase[:10], "/".join(counts), at_hub,
                              bundles)
        return table

    # --- the end ---------------------------------------------------------------------------------
    def summary(self, rows: list[dict], ok: bool) -> None:
        table = Table(box=box.SIMPLE_HEAD if self.live_mode else box.ASCII2)
        for column in ("node", "scenario", "frames", "fps", "warnings", "spoken WAVs", "alerts", "at hub",
                       "bundles sealed", "verified at hub", "result"):
            table.add_column(column, justify="left" if column in ("node", "scenario", "result") else "right",
                             no_wrap=column in ("node", "scenario"))
        for r in rows:
            table.add_row(r["node"], r["scenario"].removesuffix(".toml"), str(r["frames"]), f"{r['fps']:.1f}", str(r["warnings"]),
                          str(len(r["spoken_wavs"])), str(r["alerts"]), f"{r['hub_messages']}/{r['messages']}",
                          str(r["bundles_sealed"]), str(r["bundles_verified_at_hub"]),
                          Text("ok", style="green") if r["ok"] else Text("FAILED", style="bold red"))
        self.console.print(table)
