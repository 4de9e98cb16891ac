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
            parts.append(f"{n.node_id} {min(n.frames, n.scenario_frames)}/{n.scenario_frames} frames "
                         f"{n.fps:.0f} fps {n.phase}, {c.get('warning', 0)} warn {c.get('alert', 0)} alert, "
                         f"evidence {c.get('verified', 0)}/{c.get('sealed', 0)} at hub")
        with self._lock:
            self.console.print(Text(f"  {self.elapsed:6.1f}s progress: " + " | ".join(parts), style="dim"),
                               soft_wrap=True)

    def __rich__(self) -> Group:
        header = Text.assemble(("edge demo ", "bold"), (f"{self.phase}  ", ""),
                               (f"{self.elapsed:.0f} s", "dim"))
        if self.hub is not None and self.hub.broker is not None:
            header.append(f"   hub: broker {self.hub.broker.address}, nodes online: "
                          f"{', '.join(sorted(self.hub.online)) or '-'}", style="dim")
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for column, justify in (("node", "left"), ("scenario", "left"), ("progress", "left"), ("fps", "right"),
                                ("state", "left"), ("warnings", "right"), ("spoken", "right"), ("alerts", "right"),
                                ("cleared", "right"), ("at hub", "right"), ("bundles sealed/at hub/acked", "right")):
            table.add_column(column, justify=justify, no_wrap=column in ("node", "scenario"))
        for n in self.nodes:
            c = n.counts
            done = min(n.frames, n.scenario_frames)
            table.add_row(n.node_id, n.scenario.removesuffix(".toml"),
                          Group(ProgressBar(total=n.scenario_frames or 1, completed=done, width=18),
                                Text(f"{done}/{n.scenario_frames} frames", style="dim")),
                          f"{n.fps:.1f}", n.phase, str(c.get("warning", 0)), str(c.get("spoken", 0)),
                          str(c.get("alert", 0)), str(c.get("cleared", 0)),
                          f"{c.get('at_hub', 0)}/{c.get('produced', 0)}",
                          f"{c.get('sealed', 0)}/{c.get('verified', 0)}/{c.get('acked', 0)}")
        with self._lock:
            events = Text("\n").join(self._events) if self._events else Text("waiting...", style="dim")
        return Group(header, table, Panel(events, title="latest events: nodes, loudspeakers and hub",
                                          title_align="left", border_style="dim"))

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
