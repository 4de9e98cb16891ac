"""The tour's nodes: provisioned like a real box (own key, the hub's public key), run on a simulated
camera, watched through their log, their state folder and what the hub received from them."""

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

LOG_LINE = re.compile(r"^\S+ \S+ (\S+) (DEBUG|INFO|WARNING|ERROR|CRITICAL) ([\w.]+): (.*)$")
STAGE_LINE = re.compile(r"^(WARNING|ALERT|CLEARED) (\S+): (.*?)( - loudspeaker warning)?$")


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

    # --- its log ---------------------------------------------------------------------------------
    def _line(self, line: str) -> None:
        m = LOG_LINE.match(line)
        if m is None:
            if line.strip() and not line.startswith(" "):
                self.errors.append(line.strip())
                self._on_event(self.node_id, line.strip(), "red")
            return
        level, logger, message = m[2], m[3], m[4]
        if logger == "edge.node" and (s := STAGE_LINE.match(message)):
            stage, what, spoken = s[1], s[3], s[4]
            style = {"WARNING": "yellow", "ALERT": "bold red", "CLEARED": "green"}[stage]
            self._on_event(self.node_id, f"{stage} {what}" + (" -> loudspeaker" if spoken else ""), style)
        elif fm := re.match(r"fps ([\d.]+) .*\| frames (\d+)", message):
            self.fps, self.frames = float(fm[1]), int(fm[2])
        elif sm := re.match(r"stopped after (\d+) frames in [\d.]+ s \(([\d.]+) fps average\)", message):
            self.frames, self.final_fps, self.seen_stopped = int(sm[1]), float(sm[2]), True
        elif bm := re.match(r"evidence: bundle (\S+) sealed \((\d+) files", message):
            self._on_event(self.node_id, f"sealed evidence bundle ({bm[2]} files, signed, chained): {bm[1]}",
                           "magenta")
        elif message.startswith("evidence: the hub verified bundle"):
            self._on_event(self.node_id, "the hub acknowledged its evidence: " + message.split("bundle ")[1].split(";")[0],
                           "green")
        elif message.startswith("link: connected"):
            self._on_event(self.node_id, message, "dim")
        elif level in ("ERROR", "CRITICAL"):
            self.errors.append(message)
            self._on_event(self.node_id, message, "red")

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

    def refresh(self, hub_messages: set, hub_verified: set) -> None:
        events = self.events()
        produced = {(e["id"], e["stage"]) for e in events}
        stages = {stage: sum(e["stage"] == stage for e in events) for stage in ("warning", "alert", "cleared")}
        warned = {e["id"] for e in events if e["stage"] in ("warning", "alert")}
        cleared = {e["id"] for e in events if e["stage"] == "cleared"}
        bundles = self.bundles()
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
