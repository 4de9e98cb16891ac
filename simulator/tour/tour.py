"""The steps of `edge-sim demo`, in order; each failed check becomes one line in `failures`."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import threading
import time
from pathlib import Path

from .hub import DISPATCHER, OFFICERS, Hub
from .nodes import PROFILES, SCENARIOS, DemoNode
from .procs import REPO, Processes
from .view import View

# (profile, scenario) for each demo node.
NODES = [
    ("reservoir.toml", "reservoir_day_angler.toml"),
    ("market.toml", "market_day_stall_sidewalk.toml"),
]
SPEAK = ("market-01", "cooperate")  # the hub speaks once through a node: 这里是综合行政执法，请配合管理。
RELATIVE = re.compile(r'^(\s*\w+\s*=\s*)"(\.\.?/[^"]*)"', re.MULTILINE)  # a path relative to the profile
SETTLE_S = 45.0  # after its scenario, how long a node may take to get its evidence to the hub
HUB_WAIT_S = 20.0  # for the nodes to come online before the hub's commands


class Tour:
    def __init__(self, out: Path, args, view: View):
        self.out = out
        self.args = args
        self.view = view
        self.failures: list[str] = []
        self.procs = Processes(out / "logs", {**os.environ, "EDGE_MQTT_PASSWORD": "demo"})
        self.hub = Hub(out / "hub", self.procs, view.event)
        self.nodes = [DemoNode(p, s, out / "nodes" / Path(p).stem, out / "speaker") for p, s in NODES]
        self.profiles_ok = False
        self.previews: list[Path] = []
        self.actions: dict = {}
        self._actions_done = threading.Event()
        view.hub, view.nodes = self.hub, self.nodes

    def fail(self, step: str, detail: str) -> None:
        """A step that did not work: one line, shown as it happens and again at the end."""
        self.failures.append(f"{step}: {detail}")
        if self.view.phase:  # while the nodes run; the checks after them are listed at the end
            self.view.event("FAILED", f"{step}: {detail}", "bold red")

    # --- 1, 2: profiles and previews -------------------------------------------------------------
    def step_profiles(self) -> None:
        from edge.config import ConfigError, load_profile

        self.view.step("1/6 device profiles (edge-node check-config)")
        self.profiles_ok = True
        for path in sorted(PROFILES.glob("*.toml")):
            try:
                profile = load_profile(path)
            except ConfigError as exc:
                self.profiles_ok = False
                for line in exc.lines():
                    self.view.say(f"  {line}", "bold red")
                self.fail("profiles", "; ".join(exc.lines()))
                continue
            model = f", model {profile.detect.model}" if profile.detect.model else ", no model"
            self.view.say(f"  {path.relative_to(REPO)}: ok ({profile.node.kind}, {len(profile.zones)} zones, "
                          f"{len(profile.rules)} rules{model})")

    def step_previews(self) -> None:
        """A few seconds of each scenario, from the moment its first violation is visible."""
        from simulator.cli import main as sim_main
        from simulator.scenario import load_scenario

        self.view.step("2/6 simulator previews (H.264 video + YOLO labels + ground truth)")
        for _, scenario in NODES:
            sc = load_scenario(SCENARIOS / scenario)
            first = int((sc.truth[0].start_s if sc.truth else 0) * sc.fps)
            last = min(sc.n_frames, first + max(1, int(self.args.preview_s * sc.fps)))
            target = self.out / "previews" / Path(scenario).stem
            captured = io.StringIO()
            with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(io.StringIO()):
                status = sim_main(["render", str(SCENARIOS / scenario), "--out", str(target),
                                   "--frames", f"{first}:{last}"])
            if status != 0:
                self.view.say(f"  {scenario}: edge-sim render exited {status}", "bold red")
                self.fail("previews", f"edge-sim render {scenario} exited {status}")
                continue
            summary = json.loads(captured.getvalue().strip().splitlines()[-1])
            objects = ", ".join(f"{n} {cls}" for cls, n in summary["objects"].items() if n)
            self.view.say(f"  {scenario}: {summary['frames']} frames from t={first / sc.fps:g} s -> "
                          f"{target.relative_to(self.out)}/video.mp4 (labelled: {objects})")
            self.previews.append(target / "video.mp4")

    # --- 3: the hub ------------------------------------------------------------------------------
    def step_hub(self) -> None:
        self.view.step("3/6 the hub: local broker, signing key, edge-hub serve (ingest, evidence, incidents, API), "
                       "officers")
        address = self.hub.start_broker()
        for node in self.nodes:
            node.provision(self.hub)
        self.hub.start_tools()
        self.view.say(f"  broker {address}; hub key hub/hub.key; edge-hub serve --config hub/hub.toml: store "
                      f"hub/hub.db, evidence hub/evidence/ (node keys: {', '.join(n.node_id for n in self.nodes)}), "
                      f"API http://127.0.0.1:{self.hub.api_port}/api; {len(OFFICERS)} officers on patrol")
        self.view.say(f"  web console {self.hub.console_url}  (login {DISPATCHER[0]} / {DISPATCHER[1]})", "bold")

    def own_profiles(self) -> None:
        """--keep: each node runs on a copy of its profile (paths made absolute), which the hub's zone
        editor also holds, so a zone change rewrites the copy, never firmware_config/."""
        for node in self.nodes:
            text = RELATIVE.sub(lambda m: f'{m[1]}"{(PROFILES / m[2]).resolve()}"',
                                (PROFILES / node.profile).read_text(encoding="utf-8"))
            node.config_file = node.state.parent / node.profile
            node.config_file.write_text(text, encoding="utf-8")
            (self.hub.folder / "profiles" / f"{node.node_id}.toml").write_text(text, encoding="utf-8")

    def keep_running(self) -> None:
        """--keep: the hub, the console and the nodes run on until Ctrl-C."""
        self.view.step("4/6 the hub, its web console and two nodes keep running: press Ctrl-C to stop")
        for node in self.nodes:
            node.start(self.procs, self.hub.broker.port, self.args.realtime, self.view.event)

        def actions() -> None:
            with contextlib.suppress(Exception):  # Ctrl-C stops the hub under a waiting action
                self._hub_actions()
        threading.Thread(target=actions, daemon=True, name="hub-actions").start()
        self.view.say(f"  open {self.hub.console_url} and sign in as {DISPATCHER[0]} / {DISPATCHER[1]} (admin)",
                      "bold green")
        with self.view.live("running until Ctrl-C"):
            while True:
                messages, verified = self.hub.messages(), self.hub.verified()
                for node in self.nodes:
                    for wav in node.new_wavs():
                        self.view.event(node.node_id, f"loudspeaker ({wav.label}, {wav.seconds:.1f} s)", "yellow")
                    node.refresh(messages, verified)
                    if node.proc.poll() is not None and node.phase != "stopped":
                        node.phase = "stopped"
                        self.fail(node.node_id, f"edge-node exited with code {node.proc.returncode}")
                self.view.tick()
                time.sleep(0.5)

    # --- 4: the nodes, live -----------------------------------------------------------------------
    def step_nodes(self) -> None:
        pace = "in real time" if self.args.realtime else "faster than real time"
        self.view.step(f"4/6 two nodes on simulated cameras, scenarios played {pace}; the hub's signed commands")
        for node in self.nodes:
            node.start(self.procs, self.hub.broker.port, self.args.realtime, self.view.event)
        threading.Thread(target=self._hub_actions, daemon=True, name="hub-actions").start()
        with self.view.live("nodes running"):
            self._watch()
        self.view.phase = ""
        self._actions_done.wait(120)

    def _limit_s(self) -> float:
        if self.args.duration:
            return self.args.duration
        longest = max(n.scenario_frames / n.scenario_fps for n in self.nodes)
        return longest + 60 if self.args.realtime else 240.0

    def _watch(self) -> None:
        """Until every node is stopped: watch, let each settle after its scenario, then stop it."""
        started, limit = time.monotonic(), self._limit_s()
        stoppers: list[threading.Thread] = []
        while any(n.phase != "stopped" for n in self.nodes):
            messages, verified = self.hub.messages(), self.hub.verified()
            now = time.monotonic()
            for node in self.nodes:
                for wav in node.new_wavs():
                    self.view.event(node.node_id, f"loudspeaker ({wav.label}, {wav.seconds:.1f} s) -> "
                                                  f"{wav.path.relative_to(self.out)}", "yellow")
                node.refresh(messages, verified)
                if node.phase == "watching":
                    if node.proc.poll() is not None:
                        node.phase = "stopped"
                        self.fail(node.node_id, f"edge-node exited early with code {node.proc.returncode} "
                                                f"(see logs/node-{node.name}.log)")
                    elif node.frames >= node.scenario_frames or now - started >= limit:
                        node.phase, node.settle_started = "settling", now
                        self.view.event(node.node_id, f"scenario played ({node.frames} frames); the camera keeps "
                                                      "watching until its evidence is at the hub", "dim")
                elif node.phase == "settling" and self._actions_done.is_set():
                    late = now - node.settle_started > SETTLE_S
                    if node.settled or late:
                        if late:
                            self.fail(node.node_id, f"still in flight {SETTLE_S:.0f} s after its scenario: "
                                                    f"{_in_flight(node.counts)}")
                        node.phase = "stopping"
                        stoppers.append(threading.Thread(target=node.stop, daemon=True))
                        stoppers[-1].start()
            self.view.tick()
            time.sleep(0.25)
        for thread in stoppers:
            thread.join()

    def _hub_actions(self) -> None:
        """The hub's side while the nodes run: ping each, a refused zone command, one spoken message."""
        try:
            deadline = time.monotonic() + HUB_WAIT_S
            while time.monotonic() < deadline and not all(n.node_id in self.hub.online for n in self.nodes):
                time.sleep(0.2)
            for node in self.nodes:
                result = self.hub.command(node.node_id, "ping")
                self.actions.setdefault("ping", {})[node.node_id] = result
                ok = isinstance(result, dict) and result.get("ok")
                self.view.event("hub", f"edge-hub command {node.node_id} ping: "
                                       f"{'ok, signed command answered' if ok else result}", "cyan")
            node = self.nodes[0].node_id
            refused = self.hub.command(node, "zone", {"zone": "no-such-zone", "armed": False})
            self.actions["zone_refused"] = refused
            self.view.event("hub", f"edge-hub command {node} zone no-such-zone: refused by the node "
                                   f"({refused.get('error') if isinstance(refused, dict) else refused})", "cyan")
            node, clip = SPEAK
            self.view.event("hub", f"edge-hub speak {node} --clip {clip} --repeat 1: signed, sent, waiting until played...",
                            "cyan")
            result = self.hub.command(node, "speak", speak={"clip": clip, "repeat": 1}, timeout=40)
            self.actions["speak"] = {"node": node, "clip": clip, "result": result}
            ok = isinstance(result, dict) and result.get("ok")
            self.view.event("hub", f"edge-hub speak {node} --clip {clip}: "
                                   f"{'played on the node loudspeaker' if ok else result}", "cyan")
            snap = self.hub.api_command(SPEAK[0], "snapshot", {"thumbnail": 640})
            picture = self.hub.snapshot_picture(SPEAK[0]) if snap.get("ok") else None
            snap["picture_file"] = str(picture) if picture else None
            self.actions["snapshot"] = snap
            self.view.event("hub", f"API snapshot {SPEAK[0]}: " + (
                f"what the camera sees now -> {picture.relative_to(self.out)}" if picture else
                str(snap.get("error") or "no picture came back")), "cyan")
            dispatch = self.hub.dispatch_nearest(timeout=150)
            self.actions["dispatch"] = dispatch
            self.view.event("hub", f"dispatch: {dispatch.get('officer')} to incident #{dispatch.get('incident')}: "
                                   f"{dispatch.get('state') or dispatch.get('error')}", "bold cyan")
        finally:
            self._actions_done.set()

    # --- 5: after the nodes ----------------------------------------------------------------------
    def step_stop_hub(self) -> None:
        self.view.step("5/6 nodes stopped; the hub's checks, and edge-node evidence verify --all on each node")
        time.sleep(1.0)  # the nodes' last status messages reach the listener
        for problem in self.hub.stop():
            self.fail("hub", problem)
        messages, verified = self.hub.messages(), self.hub.verified()
        for node in self.nodes:
            node.new_wavs()
            node.refresh(messages, verified)
        for node_id, bundle, state, reason in self.hub.rejected():
            self.fail("hub evidence", f"{node_id} bundle {bundle} {state}: {reason}")

    def step_verify(self) -> list[dict]:
        rows = []
        for node in self.nodes:
            verify_ok, verify_line = node.verify_evidence(self.procs)
            self.view.say(f"  {node.node_id}: edge-node evidence verify --all: {verify_line}",
                          None if verify_ok else "bold red")
            rows.append(self._check_node(node, verify_ok, verify_line))
        self._check_tour(rows)
        return rows

    def _check_node(self, node: DemoNode, verify_ok: bool, verify_line: str) -> dict:
        c = node.counts
        ping = self.actions.get("ping", {}).get(node.node_id)
        checks = {
            "edge-node exit code": (node.proc.returncode == 0, f"exit {node.proc.returncode}"),
            "frames": (node.frames > 0, "no frame processed"),
            "delivery": (c["undelivered"] == 0, f"{c['undelivered']} lifecycle message(s) never reached the hub"),
            "evidence at hub": (c["verified"] == c["sealed"],
                                f"{c['sealed']} bundle(s) sealed, {c['verified']} verified at the hub"),
            "evidence ack": (c["acked"] == c["sealed"],
                             f"{c['sealed']} bundle(s) sealed, {c['acked']} acknowledged back to the node"),
            "evidence verify": (verify_ok, verify_line),
            "ping": (isinstance(ping, dict) and ping.get("ok"), f"ping: {ping}"),
        }
        good = True
        for step, (ok, detail) in checks.items():
            if not ok:
                good = False
                self.fail(f"{node.node_id} {step}", detail)
        return {
            "node": node.node_id, "scenario": node.scenario, "frames": node.frames,
            "fps": node.final_fps or node.fps, "warnings": c["warning"], "alerts": c["alert"],
            "cleared": c["cleared"], "messages": c["produced"], "hub_messages": c["at_hub"],
            "delivered": c["undelivered"] == 0, "ping": bool(isinstance(ping, dict) and ping.get("ok")),
            "exit": node.proc.returncode,
            "spoken_wavs": [str(w.path) for w in node.wavs.values()],
            "bundles_sealed": c["sealed"], "bundles_verified_at_hub": c["verified"], "bundles_acked": c["acked"],
            "evidence_verify": verify_line, "evidence_verify_ok": verify_ok, "ok": good,
        }

    def _check_tour(self, rows: list[dict]) -> None:
        """What the tour promises as a whole: warnings spoken, alerts, verified evidence, the hub's voice."""
        total = {key: sum(r[key] for r in rows) for key in ("warnings", "alerts", "bundles_sealed")}
        for key, what in (("warnings", "no warning"), ("alerts", "no alert"), ("bundles_sealed", "no evidence")):
            if total[key] == 0:
                self.fail("scenarios", f"{what} from any node")
        auto = [w for n in self.nodes for w in n.wavs.values() if w.label.startswith("auto-")]
        if total["warnings"] and not auto:
            self.fail("loudspeaker", "warnings were raised but no warning was spoken (no WAV)")
        speak = self.actions.get("speak", {})
        heard = [str(w.path) for n in self.nodes if n.node_id == SPEAK[0] for w in n.wavs.values()
                 if w.label == f"hub-{SPEAK[1]}"]
        speak["wavs"] = heard
        if not (isinstance(speak.get("result"), dict) and speak["result"].get("ok")):
            self.fail("edge-hub speak", f"no good result: {speak.get('result')}")
        elif not heard:
            self.fail("edge-hub speak", f"played, but no hub-{SPEAK[1]} WAV in {self.out / 'speaker' / SPEAK[0]}")
        dispatch = self.actions.get("dispatch") or {}
        if not dispatch.get("ok"):
            self.fail("dispatch", f"no officer dispatched to an incident and back: {dispatch.get('error') or dispatch}")
        snapshot = self.actions.get("snapshot") or {}
        if not snapshot.get("ok") or not snapshot.get("picture_file"):
            self.fail("API snapshot", f"no picture from the node: {snapshot.get('error') or snapshot}")
        if not self.hub.incident_summary()["total"]:
            self.fail("incidents", "the hub grouped no incident")
        refused = self.actions.get("zone_refused")
        if not (isinstance(refused, dict) and refused.get("ok") is False):
            self.fail("edge-hub command", f"a zone command naming no zone of the node was not refused: {refused}")

    # --- the end ---------------------------------------------------------------------------------
    def cleanup(self) -> None:
        """Stop whatever still runs: nodes first (they seal and say offline), then the hub, then the broker."""
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.stop()
        self.procs.stop_all()
        if self.hub.broker is not None:
            self.hub.broker.stop()


def _in_flight(c: dict) -> str:
    parts = [f"{c['open_violations']} open violation(s)" if c.get("open_violations") else "",
             f"{c['undelivered']} message(s) not at the hub" if c.get("undelivered") else "",
             f"{c['open_bundles']} bundle(s) not sealed" if c.get("open_bundles") else "",
             f"{c['sealed'] - c['verified']} bundle(s) not verified at the hub" if c.get("sealed") != c.get("verified")
             else "",
             f"{c['sealed'] - c['acked']} bundle(s) not acknowledged" if c.get("sealed") != c.get("acked") else ""]
    return ", ".join(p for p in parts if p) or "nothing"


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run_tour(args) -> int:
    view = View(plain=args.plain)
    out: Path = args.out.resolve()
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    tour = Tour(out, args, view)
    # `kill` or a closed terminal stops the tour as Ctrl-C does: with everything it started.
    previous = {sig: signal.signal(sig, _interrupt) for sig in STOP_SIGNALS}
    view.say("edge demo: a township hub and two enforcement nodes on simulated cameras", "bold")
    view.say(f"  everything goes to {out}", "dim")
    rows, problem = [], None
    try:
        tour.step_profiles()
        if getattr(args, "keep", False):
            tour.step_hub()
            tour.own_profiles()
            tour.keep_running()
        tour.step_previews()
        tour.step_hub()
        tour.step_nodes()
        tour.step_stop_hub()
        rows = tour.step_verify()
    except KeyboardInterrupt:
        problem = "stopped" if getattr(args, "keep", False) else "interrupted"
    except Exception as exc:
        problem = f"FAILED: {type(exc).__name__}: {exc}"
    finally:
        for sig in STOP_SIGNALS:  # a second Ctrl-C must not leave anything behind
            signal.signal(sig, signal.SIG_IGN)
        if problem is not None:
            _say_safely(view, f"\n{problem}: stopping the nodes, the hub and the broker")
        tour.cleanup()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if problem is not None:
        _say_safely(view, "stopped; nothing left running")
        return {"interrupted": 130, "stopped": 0}.get(problem, 1)
    return finish(tour, rows)


def _say_safely(view: View, text: str) -> None:
    with contextlib.suppress(Exception):  # the terminal may be gone
        view.say(text, "bold red")


def finish(tour: Tour, rows: list[dict]) -> int:
    view, out = tour.view, tour.out
    ok = not tour.failures and tour.profiles_ok and len(tour.previews) == len(NODES)
    view.step("6/6 summary")
    view.summary(rows, ok)
    hub_messages = len(tour.hub.messages())
    view.say(f"  evidence at the hub:   {tour.hub.evidence / 'bundles'}  "
             f"({len(tour.hub.verified())} bundle(s) verified by the hub)")
    view.say(f"  loudspeaker WAVs:      {out / 'speaker'}  "
             f"({sum(len(n.wavs) for n in tour.nodes)} files, speaker sink \"file\")")
    incidents = tour.hub.incident_summary()
    dispatch = tour.actions.get("dispatch") or {}
    view.say(f"  hub store:             {tour.hub.alerts_db}  ({hub_messages} lifecycle messages)")
    states = ", ".join(f"{n} {s}" for s, n in sorted(incidents["states"].items()))
    view.say(f"  incidents at the hub:  {incidents['total']} ({incidents['alerts']} alert; {states or 'none'})")
    if dispatch.get("ok"):
        view.say(f"  dispatched officer:    {dispatch['officer']} to incident #{dispatch['incident']} "
                 f"({dispatch['node']}), {dispatch['distance_m']:.0f} m, ETA {dispatch['eta_s']:.0f} s straight line; "
                 f"{' / '.join(a.split(' (')[0].split(' -> ')[1] for a in dispatch['audit'][1:])}")
    view.say(f"  logs of every process: {out / 'logs'}")
    for line in tour.failures:
        view.say(f"  FAILED {line}", "bold red")
    seconds = view.elapsed
    view.say(f"  took {seconds:.0f} s; result: {'ok' if ok else 'FAILED'}", "bold green" if ok else "bold red")
    (out / "summary.json").write_text(json.dumps({
        "ok": ok, "seconds": round(seconds, 1), "failures": tour.failures, "profiles_ok": tour.profiles_ok,
        "previews": [str(p) for p in tour.previews], "nodes": rows, "hub_messages": hub_messages,
        "incidents": incidents, "dispatch": dispatch,
        "hub": {"broker": tour.hub.broker.address if tour.hub.broker else None, "alerts_db": str(tour.hub.alerts_db),
                "evidence_dir": str(tour.hub.evidence / "bundles"), "bundles_verified": len(tour.hub.verified()),
                "commands": tour.actions},
        "speaker_dir": str(out / "speaker"),
    }, indent=2, ensure_ascii=False) + "\n")
    return 0 if ok else 1
