"""The fleet's nodes: real `edge-node run` processes, their logs, and a look into their state folders.

Each node's present state comes from its health file (edge.health, `health.json` in its state
folder, replaced at every once-a-second report): a poller thread samples it through
edge.inspect.NodeState.health() every POLL_S and keeps each new report (source state, link state,
outbox depth) and each change of evidence degraded.  The log (stderr) is only copied to node.log and
counted for ERROR lines and tracebacks; no state is parsed out of it.  The state folder's tables
(lifecycle.jsonl, outbox.db, upload.db, evidence.db) are read through edge.inspect too.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import apsw

from edge.inspect import NodeState

REPO = Path(__file__).resolve().parents[2]
PROFILES = REPO / "firmware_config"
FLEET_SCENARIOS = Path(__file__).resolve().parent / "scenarios"
BIN = Path(sys.executable).parent

# The fleet's rule times: short enough that every loop of a fleet scenario (45 s) gives a warning,
# an alert and a sealed evidence bundle.  The shipped profiles stay as they are; this rides on --set.
FLEET_RULE_TIMES = {"dwell_s": 4, "recheck_s": 4, "clear_after_s": 5}
# Profile and scenario of each node, in turn: node1 reservoir, node2 market, node3 reservoir, ...
MIX = [("reservoir", "fleet_reservoir.toml"), ("market", "fleet_market.toml")]

POLL_S = 0.25  # how often the health file is sampled: it changes about once a second


def toml_inline(value) -> str:
    """A value as TOML inline syntax, for --set."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_inline(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_inline(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {value!r}")


def fleet_rules(profile: Path) -> str:
    """`rules=[...]`: the profile's own rules with the fleet's shorter tier times."""
    rules = tomllib.loads(profile.read_text(encoding="utf-8")).get("rules", [])
    return "rules=" + toml_inline([{**rule, **FLEET_RULE_TIMES} for rule in rules])


@dataclass
class Sample:
    t: float  # fleet clock (seconds since the run started) when the poller saw the report
    source: str
    link_up: bool | None
    outbox: int | None


@dataclass
class NodeLog:
    samples: list[Sample] = field(default_factory=list)
    degraded: list[tuple[float, bool]] = field(default_factory=list)  # (t, degraded?) as the node said
    errors: list[tuple[float, str]] = field(default_factory=list)  # (t, line) of ERROR/CRITICAL lines
    tracebacks: int = 0
    lines: int = 0


def query(path: Path, sql: str, args: tuple = ()) -> list[tuple]:
    """Rows from one of a node's or the hub's SQLite files ([] when it does not exist yet)."""
    if not path.exists():
        return []
    db = apsw.Connection(str(path))
    try:
        db.setbusytimeout(5000)
        return list(db.execute(sql, args))
    finally:
        db.close()


class FleetNode:
    def __init__(self, index: int, root: Path, broker_port: int, clock, *, stats_interval_s: float = 10.0):
        self.index = index
        self.id = f"node{index}"
        self.profile_name, scenario = MIX[(index - 1) % len(MIX)]
        self.profile = PROFILES / f"{self.profile_name}.toml"
        self.scenario = FLEET_SCENARIOS / scenario
        self.state = root / "nodes" / self.id
        self.broker_port = broker_port  # the port the node connects to: its proxy's
        self.clock = clock
        self.stats_interval_s = stats_interval_s
        self.camera = None  # RtspCamera, for the camera-loss node
        self.disk = None  # SmallDisk under state/evidence, for the disk-full node
        self.proxy = None
        self.proc: subprocess.Popen | None = None
        self.log = NodeLog()
        self.starts = 0
        self.kills = 0
        self.exits: list[int] = []  # return codes of every process of this node, in order
        self.draining = False
        self._pump: threading.Thread | None = None
        self._poller: threading.Thread | None = None
        self._log_file = None

    # --- set-up ------------------------------------------------------------------------------------
    def provision(self, hub_pub: Path, node_keys: Path) -> None:
        """The node's own signing key; the hub's public key on the node, the node's at the hub."""
        (self.state / "keys").mkdir(parents=True, exist_ok=True)
        subprocess.run([str(BIN / "edge-node"), "keys", "init", "--state-dir", str(self.state)], check=True,
                       capture_output=True, timeout=60)
        (self.state / "keys" / "hub.pub").write_bytes(hub_pub.read_bytes())
        node_keys.mkdir(parents=True, exist_ok=True)
        (node_keys / f"{self.id}.pub").write_bytes((self.state / "keys" / "node.pub").read_bytes())

    @property
    def source(self) -> str:
        if self.draining:
            # After the run: the camera is unplugged (nothing listens here), so the node only talks
            # to the hub.  Port 9 (discard) is never served on this host.
            return "rtsp://127.0.0.1:9/unplugged"
        if self.camera is not None:
            return self.camera.url
        return f"sim:{self.scenario}?loop=1"

    def command(self) -> list[str]:
        sets = [
            f'node.id="{self.id}"', "link.host=127.0.0.1", f"link.port={self.broker_port}",
            f'link.username="{self.id}"', f"link.stats_interval_s={self.stats_interval_s:g}",
            'speaker.sink="file"', f'speaker.out_dir="{self.state / "speaker"}"', "speaker.file_realtime=false",
            "detect.threads=1", fleet_rules(self.profile),
            # A fleet clip reaches back at most dwell + recheck + preroll (18 s): a smaller buffer.
            "evidence.buffer_s=40",
            # The node's evidence disk may be a small tmpfs: keep 1 MB free rather than 512 MB.
            "evidence.min_free_bytes=1048576",
        ]
        if self.camera is not None or self.draining:
            sets += ['capture.rtsp_transport="udp"']  # the relay speaks RTP over UDP only
        cmd = [str(BIN / "edge-node"), "run", "--config", str(self.profile), "--source", self.source,
               "--state-dir", str(self.state)]
        for item in sets:
            cmd += ["--set", item]
        return cmd

    # --- processes -----------------------------------------------------------------------------------
    def start(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        if self._log_file is None:
            self._log_file = open(self.state / "node.log", "a", encoding="utf-8")  # noqa: SIM115 (closed by close())
        env = {**os.environ, "EDGE_MQTT_PASSWORD": "fleet", "EDGE_CAMERA_PASSWORD": "fleet"}
        env.pop("EDGE_STATE_DIR", None)
        self._log_file.write(f"--- fleet: start {self.starts + 1}{' (drain)' if self.draining else ''} at "
                             f"t={self.clock():.1f} s: {' '.join(self.command())}\n")
        self._log_file.flush()
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     cwd=REPO, env=env, stdin=subprocess.DEVNULL)
        self.starts += 1
        self._pump = threading.Thread(target=self._read_log, args=(self.proc,), name=f"log-{self.id}", daemon=True)
        self._pump.start()
        self._poller = threading.Thread(target=self._poll_health, args=(self.proc,), name=f"health-{self.id}",
                                        daemon=True)
        self._poller.start()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> int | None:
        """A power cut: SIGKILL, no goodbye.  Returns the process's exit status."""
        if not self.alive():
            return None
        self.proc.send_signal(signal.SIGKILL)
        code = self.proc.wait(30)
        self.kills += 1
        self._finish()
        return code

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM, as systemd stops it; SIGKILL if it does not stop in time."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        self._finish()
        return self.exits[-1]

    def _finish(self) -> None:
        if self._pump is not None:
            self._pump.join(10)
            self._pump = None
        if self._poller is not None:
            self._poller.join(10)
            self._poller = None
        if self.proc is not None:
            self.exits.append(self.proc.returncode)
            self.proc = None

    def close(self) -> None:
        """Stop whatever still runs (on any error path) and close the log."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(30)
            self._finish()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def _read_log(self, proc: subprocess.Popen) -> None:
        log = self.log
        for line in proc.stderr:
            t = self.clock()
            line = line.rstrip("\n")
            log.lines += 1
            self._log_file.write(line + "\n")
            if line.startswith("Traceback"):
                log.tracebacks += 1
            if (" ERROR " in line or " CRITICAL " in line or line.startswith("Traceback")) and len(log.errors) < 50:
                log.errors.append((t, line))
        proc.stderr.close()
        self._log_file.flush()

    def _poll_health(self, proc: subprocess.Popen) -> None:
        """Sample the node's health file until its process ends (one last look after it): each report
        this process wrote once, each change of evidence degraded once."""
        state, log, seq = NodeState(self.state), self.log, None
        while True:
            ended = proc.poll() is not None
            h = state.health()
            if h.body is not None and h["pid"] == proc.pid and h["seq"] != seq:
                seq, t = h["seq"], self.clock()
                log.samples.append(Sample(t, h["source"], h["link_up"], h["outbox"]))
                degraded = bool(h.get("evidence_degraded"))
                if degraded != (log.degraded[-1][1] if log.degraded else False):
                    log.degraded.append((t, degraded))
            if ended:
                return
            time.sleep(POLL_S)

    # --- what the node says about itself ----------------------------------------------------------------
    def last(self) -> Sample | None:
        return self.log.samples[-1] if self.log.samples else None

    def degraded_at(self, t: float) -> bool:
        state = False
        for when, degraded in self.log.degraded:
            if when > t:
                break
            state = degraded
        return state

    def max_outbox(self) -> int:
        return max((s.outbox for s in self.log.samples if s.outbox is not None), default=0)

    def healthy_since(self, t0: float, *, need_link: bool = True, need_source: bool = False,
                      need_storage: bool = False) -> float | None:
        """The first report at or after t0 with the link up and the outbox empty (when `need_link`), the
        camera streaming (`need_source`) and evidence storage not degraded (`need_storage`); its time."""
        for s in self.log.samples:
            if s.t < t0 or (need_link and (not s.link_up or s.outbox != 0)):
                continue
            if need_source and s.source != "streaming":
                continue
            if need_storage and self.degraded_at(s.t):
                continue
            return s.t
        return None

    def saw(self, t0: float, t1: float, predicate) -> bool:
        return any(predicate(s) for s in self.log.samples if t0 <= s.t <= t1)

    # --- the state folder ----------------------------------------------------------------------------------
    def lifecycle(self) -> list[dict]:
        from edge.rules import read_events

        path = self.state / "lifecycle.jsonl"
        return read_events(path) if path.exists() else []

    def outbox_depth(self) -> int:
        return NodeState(self.state).outbox_depth()

    def outbox_alerts(self) -> set[str]:
        return NodeState(self.state).outbox_alert_ids()

    def receipt_stats(self) -> dict:
        """Lifecycle messages the hub receipted and the longest any waited, from commit to receipt."""
        return NodeState(self.state).receipt_stats()

    def dead_letters(self) -> int:
        return NodeState(self.state).dead_letters()

    def uploads_pending(self) -> int:
        return NodeState(self.state).uploads_pending()

    def bundles(self) -> list[dict]:
        return [{"id": r.id, "state": r.state, "seq": r.seq, "manifest_sha256": r.manifest_sha256,
                 "incomplete": r.incomplete, "degraded": r.degraded, "acked": r.acked, "deleted": r.deleted}
                for r in NodeState(self.state).bundles()]
