"""The tour's nodes: provisioned like a real box (own key, the hub's public key), run on a simulated
camera, watched through their state folder and what the hub received from them.

What a node does is read through edge.inspect.NodeState at each refresh (the tour calls it every
0.25-0.5 s): frames, fps and link state from its health file (edge.health, `health.json`), stage
transitions from lifecycle.jsonl, sealed and acknowledged bundles from its evidence index.  The log
is only scanned for error lines and tracebacks (its job); no state is parsed out of it.
"""

from __future__ import annotations

import re
import shutil
import sys
import wave
from dataclasses import dataclass, field
from pathlib import Path

from edge.inspect import NodeState

from .procs import REPO, Processes, stop

BIN = Path(sys.executable).parent
PROFILES = REPO / "firmware_config"
SCENARIOS = REPO / "simulator" / "scenarios"

# The level field of the node's log format (edge.logs): only to tell error lines, never state.
LOG_LEVEL = re.compile(r"^\S+ \S+ \S+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: (.*)$")
STAGE_STYLE = {"warning": "yellow", "alert": "bold red", "cleared": "green"}


@dataclass
class Wav:
    path: Path
    seconds: float
    label: str


@dataclass
class DemoNode:
    profile: str
    scenario: str
    state: Path
    speaker_root: Path  # the file sink writes into speaker_root/<node id>/
    node_id: str = ""
    scenario_frames: int = 0
    scenario_fps: float = 0.0
    proc: object = None
    phase: str = "starting"  # starting | watching | settling | stopping | stopped
    settle_started: float = 0.0
    frames: int = 0
    fps: float = 0.0
    final_fps: float = 0.0
    seen_stopped: bool = False
    errors: list[str] = field(default_factory=list)
    wavs: dict[Path, Wav] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # refreshed from the state folder and the hub
    config_file: Path | None = None  # the profile it runs on (default: firmware_config/PROFILE)
    _seen_events: int = 0  # lifecycle messages already told
    _seen_sealed: set = field(default_factory=set)
    _seen_acked: set = field(default_factory=set)
    _link_up: bool | None = None
    _on_event: object = None

    @property
    def name(self) -> str:
        return Path(self.profile).stem

    @property
    def speaker_dir(self) -> Path:
        return self.speaker_root / self.node_id

    # --- set-up ----------------------------------------------------------------------------------
    def provision(self, hub) -> None:
        """What an installer does: the node's own key pair, and the hub's public key; the hub gets the node's."""
        from edge.config import load_profile
        from simulator.scenario import load_scenario

        self.node_id = load_profile(PROFILES / self.profile).node.id
        sc = load_scenario(SCENARIOS / self.scenario)
        self.scenario_frames, self.scenario_fps = sc.n_frames, sc.fps
        (self.state / "keys").mkdir(parents=True)
        shutil.copy(hub.public_key, self.state / "keys" / "hub.pub")
        hub.procs.run(f"keys-{self.name}", [str(BIN / "edge-node"), "keys", "init", "--state-dir", str(self.state)],
                      timeout=60)
        hub.accept_node_key(self.node_id, self.state / "keys" / "node.pub")

    def start(self, procs: Processes, broker_port: int, realtime: bool, on_event) -> None:
        """Run the node on its scenario, looped: the camera keeps watching after the scripted part, so
        violations clear on their own and the evidence reaches the hub before the tour stops the node."""
        options = "loop=1" + ("" if realtime else "&realtime=0")
        cmd = [str(BIN / "edge-node"), "run", "--config", str(self.config_file or PROFILES / self.profile),
               "--source", f"sim:{SCENARIOS / self.scenario}?{options}", "--state-dir", str(self.state),
               "--set", "link.host=127.0.0.1", "--set", f"link.port={broker_port}",
               "--set", "link.stats_interval_s=5", "--set", 'speaker.sink="file"',
               "--set", f'speaker.out_dir="{self.speaker_dir}"']
        self._on_event = on_event
        self.proc = procs.spawn(f"node-{self.name}", cmd, self._line)
        self.phase = "watching"

    def stop(self) -> int | None:
        self.phase = "stopping"
        code = stop(self.proc, 60)
        self.phase = "stopped"
        return code

    # --- its log: errors only --------------------------------------------------------------------
    def _line(self, line: str) -> None:
        m = LOG_LEVEL.match(line)
        if m is None:  # a traceback or a native library's line
            if line.strip() and not line.startswith(" "):
                self.errors.append(line.strip())
                self._on_event(self.node_id, line.strip(), "red")
        elif m[1] in ("ERROR", "CRITICAL"):
            self.errors.append(m[2])
            self._on_event(self.node_id, m[2], "red")

    # --- its state folder ------------------------------------------------------------------------
    def events(self) -> list[dict]:
        return NodeState(self.state).lifecycle()

    def bundles(self) -> list[tuple[str, str, int]]:
        """(bundle, state, acked) of every bundle in the node's evidence index (deleted ones too)."""
        return [(r.id, r.state, int(r.acked)) for r in NodeState(self.state).bundles()]

    def new_wavs(self) -> list[Wav]:
        """WAV files the speaker's file sink wrote since the last look (each once it is complete)."""
        found = []
        for path in sorted(self.speaker_dir.glob("*.wav")) if self.speaker_dir.exists() else []:
            if path in self.wavs:
                continue
            try:
                with wave.open(str(path), "rb") as w:
                    seconds = w.getnframes() / w.getframerate()
            except (wave.Error, EOFError, OSError):
                continue  # not complete yet
            label = path.stem.split("-", 2)[-1]
            self.wavs[path] = wav = Wav(path, seconds, label)
            found.append(wav)
        return found

    def _read_health(self) -> None:
        """Frames, fps and the link from the node's last report (edge.health); its final one at the end."""
        h = NodeState(self.state).health()
        if h.body is None or self.proc is None or h["pid"] != self.proc.pid:
            return  # not reported yet (or an earlier run's file)
        self.frames, self.fps = int(h["frames"]), float(h["fps"])
        if h.get("stopped"):
            self.frames, self.final_fps, self.seen_stopped = int(h["frames_at_stop"]), float(h["fps_average"]), True
        if h["link_up"] is not None and h["link_up"] != self._link_up and self._on_event is not None:
            self._on_event(self.node_id, "link: connected to the hub's broker" if h["link_up"] else
                           "link: down (the outbox keeps what is not receipted)", "dim" if h["link_up"] else "red")
        self._link_up = h["link_up"]

    def _tell(self, events: list[dict], bundles: list[tuple[str, str, int]]) -> None:
        """New stage transitions and sealed or acknowledged bundles, as events for the view."""
        if self._on_event is None:
            return
        for e in events[self._seen_events:]:
            self._on_event(self.node_id, f"{str(e.get('stage')).upper()} {e.get('kind')} in {e.get('zone')} "
                                         f"[{e.get('rule')}]", STAGE_STYLE.get(e.get("stage"), "dim"))
        self._seen_events = len(events)
        for bundle, state, acked in bundles:
            if state == "sealed" and bundle not in self._seen_sealed:
                self._seen_sealed.add(bundle)
                self._on_event(self.node_id, f"sealed evidence bundle (signed, chained): {bundle}", "magenta")
            if state == "sealed" and acked and bundle not in self._seen_acked:
                self._seen_acked.add(bundle)
                self._on_event(self.node_id, f"the hub acknowledged its evidence: {bundle}", "green")

    def refresh(self, hub_messages: set, hub_verified: set) -> None:
        self._read_health()
        events = self.events()
        produced = {(e["id"], e["stage"]) for e in events}
        stages = {stage: sum(e["stage"] == stage for e in events) for stage in ("warning", "alert", "cleared")}
        warned = {e["id"] for e in events if e["stage"] in ("warning", "alert")}
        cleared = {e["id"] for e in events if e["stage"] == "cleared"}
        bundles = self.bundles()
        self._tell(events, bundles)
        sealed = {b for b, state, _ in bundles if state == "sealed"}
        self.counts = {
            **stages,
            "produced": len(produced),
            "at_hub": len({(i, s) for n, i, s in hub_messages if n == self.node_id} & produced),
            "undelivered": len(produced - {(i, s) for n, i, s in hub_messages if n == self.node_id}),
            "open_violations": len(warned - cleared),
            "open_bundles": sum(state != "sealed" for _, state, _ in bundles),
            "sealed": len(sealed),
            "verified": len({b for n, b in hub_verified if n == self.node_id} & sealed),
            "acked": sum(bool(acked) for b, state, acked in bundles if state == "sealed"),
            "spoken": len(self.wavs),
        }

    @property
    def settled(self) -> bool:
        """Nothing left in flight: every violation cleared, every message at the hub, every bundle
        sealed, verified by the hub and acknowledged to the node."""
        c = self.counts
        return bool(c) and c["open_violations"] == 0 and c["undelivered"] == 0 and c["open_bundles"] == 0 \
            and c["verified"] == c["sealed"] == c["acked"]

    def verify_evidence(self, procs: Processes) -> tuple[bool, str]:
        """`edge-node evidence verify --all` on the node's own store."""
        if not (self.state / "evidence.db").exists():
            return False, "no evidence store"
        result = procs.run(f"verify-{self.name}", [str(BIN / "edge-node"), "evidence", "verify", "--all",
                                                   "--state-dir", str(self.state)], timeout=120)
        lines = result.stdout.strip().splitlines()
        return result.returncode == 0, lines[-1] if lines else f"exit {result.returncode}"
