"""`edge-sim demo`: a bounded tour of what the product does so far.

It checks every device profile, renders a short preview of a reservoir scene and a market scene
(video plus labels), then runs a reservoir node and a market node side by side on simulated cameras
and ends with a summary.  Exit 0 only when every step worked.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROFILES = REPO / "firmware_config"
SCENARIOS = REPO / "simulator" / "scenarios"

# (profile, scenario) for each demo node.
NODES = [
    ("reservoir.toml", "reservoir_day_angler.toml"),
    ("market.toml", "market_day_stall_sidewalk.toml"),
]
STOPPED = re.compile(r"stopped after (\d+) frames in ([\d.]+) s \(([\d.]+) fps average\)")
DROPPED = re.compile(r"dropped (\d+)")


@dataclass
class NodeRun:
    profile: str
    scenario: str
    proc: subprocess.Popen | None = None
    frames: int = 0
    fps: float = 0.0
    dropped: int = 0
    lines: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return Path(self.profile).stem


def say(text: str) -> None:
    print(text, flush=True)


def step_profiles() -> bool:
    from edge.config import ConfigError, load_profile

    ok = True
    for path in sorted(PROFILES.glob("*.toml")):
        try:
            profile = load_profile(path)
            say(f"  {path.relative_to(REPO)}: ok ({profile.node.kind}, {len(profile.zones)} zones, "
                f"{len(profile.rules)} rules)")
        except ConfigError as exc:
            ok = False
            for line in exc.lines():
                say(f"  {line}")
    return ok


def step_previews(out: Path, seconds: float) -> list[Path]:
    """Render a few seconds of each scenario from the moment its first violation is visible."""
    from simulator.cli import main as sim_main
    from simulator.scenario import load_scenario

    made = []
    for _, scenario in NODES:
        sc = load_scenario(SCENARIOS / scenario)
        first = int((sc.truth[0].start_s if sc.truth else 0) * sc.fps)
        last = min(sc.n_frames, first + int(seconds * sc.fps))
        target = out / Path(scenario).stem
        captured = io.StringIO()
        with contextlib.redirect_stdout(captured):
            status = sim_main(["render", str(SCENARIOS / scenario), "--out", str(target), "--frames", f"{first}:{last}"])
        if status != 0:
            return []
        summary = json.loads(captured.getvalue().strip().splitlines()[-1])
        objects = ", ".join(f"{n} {cls}" for cls, n in summary["objects"].items() if n)
        say(f"  {scenario}: {summary['frames']} frames from t={first / sc.fps:g} s -> {target}/video.mp4 "
            f"(labelled: {objects})")
        made.append(target / "video.mp4")
    return made


def _pump(run: NodeRun) -> None:
    assert run.proc is not None and run.proc.stderr is not None
    for line in run.proc.stderr:
        line = line.rstrip()
        run.lines.append(line)
        if m := DROPPED.search(line):
            run.dropped = int(m.group(1))
        if m := STOPPED.search(line):
            run.frames, run.fps = int(m.group(1)), float(m.group(3))
        message = line.split(": ", 1)[-1] if " edge." in line else line
        say(f"  [{run.name:9}] {message}")


def step_nodes(duration: float) -> list[NodeRun]:
    runs = [NodeRun(profile, scenario) for profile, scenario in NODES]
    pumps = []
    for run in runs:
        run.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "edge-node"), "run", "--config", str(PROFILES / run.profile),
             "--source", f"sim:{SCENARIOS / run.scenario}", "--duration", str(duration)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO)
        pump = threading.Thread(target=_pump, args=(run,), daemon=True)
        pump.start()
        pumps.append(pump)
    for run, pump in zip(runs, pumps, strict=True):
        run.proc.wait(timeout=duration + 60)
        pump.join(5)
    return runs


def cmd_demo(args: argparse.Namespace) -> int:
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    say("edge demo: what the product does so far\n")
    say("1/3 device profiles")
    profiles_ok = step_profiles()
    say("\n2/3 simulator previews (H.264 video + YOLO labels + ground truth)")
    previews = step_previews(out, args.preview_s)
    say(f"\n3/3 two nodes on simulated cameras for {args.duration:g} s")
    runs = step_nodes(args.duration)

    say("\nsummary")
    say(f"  {'node':10} {'scenario':34} {'frames':>6} {'fps':>5} {'dropped':>7}  result")
    ok = profiles_ok and len(previews) == len(NODES)
    for run in runs:
        good = run.proc is not None and run.proc.returncode == 0 and run.frames > 0
        ok &= good
        say(f"  {run.name:10} {run.scenario:34} {run.frames:6d} {run.fps:5.1f} {run.dropped:7d}  "
            f"{'ok' if good else f'FAILED (exit {run.proc.returncode})'}")
    say(f"  demo folder: {out}")
    say(f"  took {time.monotonic() - started:.0f} s; result: {'ok' if ok else 'FAILED'}")
    (out / "summary.json").write_text(json.dumps({
        "ok": ok, "profiles_ok": profiles_ok, "previews": [str(p) for p in previews],
        "nodes": [{"node": r.name, "scenario": r.scenario, "frames": r.frames, "fps": r.fps, "dropped": r.dropped,
                   "exit": r.proc.returncode if r.proc else None} for r in runs],
    }, indent=2) + "\n")
    return 0 if ok else 1


def add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="a bounded tour of the product (what `make demo` runs)")
    p.add_argument("--out", type=Path, default=Path("demo-out"), help="demo folder (default demo-out/)")
    p.add_argument("--duration", type=float, default=20.0, metavar="S", help="how long the nodes run (default 20)")
    p.add_argument("--preview-s", type=float, default=10.0, metavar="S", help="length of each preview (default 10)")
    p.set_defaults(func=cmd_demo)
