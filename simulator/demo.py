"""`edge-sim demo`: a bounded tour of the product on one machine.

A local hub (mosquitto, `edge-hub listen`, a hub signing key) and two nodes, a reservoir box and a
market-street box, each watching a simulated camera.  The nodes detect, track and apply their
rules, warn, raise alerts over MQTT through their durable outboxes, and answer signed commands from
the hub.  The scenarios play faster than real time so the tour fits in a couple of minutes.  Exit 0
only when every step worked.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROFILES = REPO / "firmware_config"
SCENARIOS = REPO / "simulator" / "scenarios"
BIN = Path(sys.executable).parent

# (profile, scenario) for each demo node.
NODES = [
    ("reservoir.toml", "reservoir_day_angler.toml"),
    ("market.toml", "market_day_stall_sidewalk.toml"),
]


@dataclass
class NodeRun:
    profile: str
    scenario: str
    state: Path
    proc: subprocess.Popen | None = None
    node_id: str = ""
    frames: int = 0
    fps: float = 0.0
    lines: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return Path(self.profile).stem

    def events(self) -> list[dict]:
        from edge.rules import read_events

        path = self.state / "lifecycle.jsonl"
        return read_events(path) if path.exists() else []


def say(text: str) -> None:
    print(text, flush=True)


def _pump(stream, prefix: str, sink: list[str] | None = None, keep=lambda line: True) -> None:
    for line in stream:
        line = line.rstrip()
        if sink is not None:
            sink.append(line)
        if keep(line):
            say(f"  [{prefix}] {line.split(': ', 1)[-1] if ' edge.' in line else line}")


def _worth_showing(line: str) -> bool:
    return any(k in line for k in ("WARNING", "ALERT", "CLEARED", "connected", "stopped after"))


def step_profiles() -> bool:
    from edge.config import ConfigError, load_profile

    ok = True
    for path in sorted(PROFILES.glob("*.toml")):
        try:
            profile = load_profile(path)
            model = f", model {profile.detect.model}" if profile.detect.model else ", no model"
            say(f"  {path.relative_to(REPO)}: ok ({profile.node.kind}, {len(profile.zones)} zones, "
                f"{len(profile.rules)} rules{model})")
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
        target = out / "previews" / Path(scenario).stem
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


def hub_command(broker: str, key: Path, node: str, name: str, args: dict | None = None) -> dict | None:
    cmd = [str(BIN / "edge-hub"), "command", node, name, "--broker", broker, "--key", str(key), "--timeout", "15"]
    if args:
        cmd += ["--args-json", json.dumps(args)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    try:
        return json.loads(result.stdout)
    except ValueError:
        say(f"  [hub] {result.stderr.strip()}")
        return None


def cmd_demo(args: argparse.Namespace) -> int:
    from edge.crypto import generate_keypair
    from edge.hub.store import AlertStore
    from simulator.broker import Broker

    out: Path = args.out.resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    started = time.monotonic()
    say("edge demo: a township hub and two enforcement nodes on simulated cameras\n")
    say("1/5 device profiles")
    profiles_ok = step_profiles()
    say("\n2/5 simulator previews (H.264 video + YOLO labels + ground truth)")
    previews = step_previews(out, args.preview_s)

    say("\n3/5 the hub: a local broker, a signing key, and the alert listener")
    broker = Broker(out / "hub" / "broker").start()
    key = out / "hub" / "hub.key"
    generate_keypair(key, out / "hub" / "hub.pub")
    hub_db = out / "hub" / "alerts.db"
    listener = subprocess.Popen([str(BIN / "edge-hub"), "listen", "--broker", broker.address, "--db", str(hub_db)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    threading.Thread(target=_pump, args=(listener.stdout, "hub"), daemon=True).start()
    say(f"  broker on {broker.address}; hub key {key}; alerts stored in {hub_db}")
    time.sleep(1.0)

    say(f"\n4/5 two nodes, scenarios played {'in real time' if args.realtime else 'faster than real time'}")
    runs: list[NodeRun] = []
    env = {**os.environ, "EDGE_MQTT_PASSWORD": "demo"}
    for profile, scenario in NODES:
        state = out / "nodes" / Path(profile).stem
        (state / "keys").mkdir(parents=True)
        shutil.copy(out / "hub" / "hub.pub", state / "keys" / "hub.pub")  # provisioning: the hub's public key
        subprocess.run([str(BIN / "edge-node"), "keys", "init", "--state-dir", str(state)], check=True,
                       capture_output=True)  # the node's own key, which signs its evidence
        run = NodeRun(profile, scenario, state)
        source = f"sim:{SCENARIOS / scenario}" + ("" if args.realtime else "?realtime=0")
        cmd = [str(BIN / "edge-node"), "run", "--config", str(PROFILES / profile), "--source", source,
               "--state-dir", str(state), "--set", "link.host=127.0.0.1", "--set", f"link.port={broker.port}",
               "--set", "link.stats_interval_s=5", "--set", 'speaker.sink="file"',
               "--set", f'speaker.out_dir="{state / "speaker"}"']
        if args.duration:
            cmd += ["--duration", str(args.duration)]
        run.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO,
                                    env=env)
        threading.Thread(target=_pump, args=(run.proc.stderr, run.name, run.lines, _worth_showing),
                         daemon=True).start()
        runs.append(run)

    time.sleep(3.0)
    commands = {}
    from edge.config import load_profile

    for run in runs:
        run.node_id = load_profile(PROFILES / run.profile).node.id
        result = hub_command(broker.address, key, run.node_id, "ping")
        commands[run.node_id] = result
        say(f"  [hub] ping {run.node_id}: {'ok' if result and result.get('ok') else result}")
    refused = hub_command(broker.address, key, runs[0].node_id, "zone", {"zone": "no-such-zone", "armed": False})
    say(f"  [hub] zone command naming no zone of the node: {refused and refused.get('error')}")

    for run in runs:
        try:
            run.proc.wait(timeout=(args.duration or 600) + 60)
        except subprocess.TimeoutExpired:
            run.proc.terminate()
            run.proc.wait(20)
        for line in run.lines:
            if "stopped after" in line:
                parts = line.split("stopped after ")[1].split()
                run.frames = int(parts[0])
                run.fps = float(line.split("(")[-1].split()[0])
    time.sleep(2.0)  # the last messages reach the hub
    listener.terminate()
    listener.wait(10)
    broker.stop()

    say("\n5/5 summary")
    store = AlertStore(hub_db)
    at_hub = {(m["id"], m["stage"]) for m in store.messages()}
    store.close()
    ok = profiles_ok and len(previews) == len(NODES)
    say(f"  {'node':14} {'scenario':32} {'frames':>6} {'fps':>6} {'warnings':>8} {'alerts':>6} {'at hub':>6}  result")
    rows = []
    for run in runs:
        events = run.events()
        produced = {(e["id"], e["stage"]) for e in events}
        delivered = produced <= at_hub
        answered = bool(commands.get(run.node_id) and commands[run.node_id].get("ok"))
        good = run.proc.returncode == 0 and run.frames > 0 and delivered and answered
        ok &= good
        warnings = sum(e["stage"] == "warning" for e in events)
        alerts = sum(e["stage"] == "alert" for e in events)
        rows.append({"node": run.node_id, "scenario": run.scenario, "frames": run.frames, "fps": run.fps,
                     "warnings": warnings, "alerts": alerts, "delivered": delivered, "ping": answered,
                     "exit": run.proc.returncode})
        say(f"  {run.node_id:14} {run.scenario:32} {run.frames:6d} {run.fps:6.1f} {warnings:8d} {alerts:6d} "
            f"{len(produced & at_hub):6d}  {'ok' if good else 'FAILED'}")
    ok &= bool(refused) and refused.get("ok") is False
    say(f"  hub: {len(at_hub)} lifecycle messages stored in {hub_db}")
    say(f"  demo folder: {out}")
    say(f"  took {time.monotonic() - started:.0f} s; result: {'ok' if ok else 'FAILED'}")
    (out / "summary.json").write_text(json.dumps({
        "ok": ok, "profiles_ok": profiles_ok, "previews": [str(p) for p in previews], "nodes": rows,
        "hub_messages": len(at_hub)}, indent=2) + "\n")
    return 0 if ok else 1


def add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="a bounded tour of the product (what `make demo` runs)")
    p.add_argument("--out", type=Path, default=Path("demo-out"), help="demo folder (default demo-out/, replaced)")
    p.add_argument("--duration", type=float, default=None, metavar="S",
                   help="stop the nodes after S seconds (default: when their scenarios end)")
    p.add_argument("--realtime", action="store_true", help="play the scenarios in real time (3-4 minutes)")
    p.add_argument("--preview-s", type=float, default=10.0, metavar="S", help="length of each preview (default 10)")
    p.set_defaults(func=cmd_demo)
