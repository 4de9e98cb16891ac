"""The tour's hub: a local mosquitto, the hub's signing key, `edge-hub listen` (alerts) and
`edge-hub receive` (evidence), and the hub's signed commands to the nodes."""

from __future__ import annotations

import json
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .procs import Processes, query, stop

BIN = Path(sys.executable).parent


@dataclass
class Hub:
    folder: Path
    procs: Processes
    on_event: object  # (source, text, style) -> None
    broker: object = None
    listener: object = None
    receiver: object = None
    online: set[str] = field(default_factory=set)

    @property
    def key(self) -> Path:
        return self.folder / "hub.key"

    @property
    def public_key(self) -> Path:
        return self.folder / "hub.pub"

    @property
    def alerts_db(self) -> Path:
        return self.folder / "alerts.db"

    @property
    def evidence(self) -> Path:
        return self.folder / "evidence"

    @property
    def receive_db(self) -> Path:
        return self.evidence / "receive.db"

    # --- life ------------------------------------------------------------------------------------
    def start_broker(self) -> str:
        from edge.crypto import generate_keypair
        from simulator.broker import Broker

        self.broker = Broker(self.folder / "broker")
        self.broker.start()  # after the assignment: stopped by the clean-up even if interrupted while starting
        generate_keypair(self.key, self.public_key)
        (self.evidence / "node-keys").mkdir(parents=True, exist_ok=True)
        return self.broker.address

    def accept_node_key(self, node_id: str, public_key: Path) -> None:
        """Provisioning: the hub verifies a node's evidence with the node's public key."""
        shutil.copy(public_key, self.evidence / "node-keys" / f"{node_id}.pub")

    def start_tools(self) -> None:
        common = ["--broker", self.broker.address]
        self.listener = self.procs.spawn("hub-listen", [str(BIN / "edge-hub"), "listen", *common,
                                                        "--db", str(self.alerts_db)], self._listen_line)
        self.receiver = self.procs.spawn("hub-receive", [str(BIN / "edge-hub"), "receive", *common,
                                                         "--dir", str(self.evidence), "--key", str(self.key)],
                                         self._receive_line)

    def stop(self) -> list[str]:
        """Stop the hub's tools and the broker; the problems, one line each."""
        problems = []
        for name, proc in (("edge-hub listen", self.listener), ("edge-hub receive", self.receiver)):
            if proc is None:
                continue
            if proc.poll() is not None:
                problems.append(f"{name} had exited with code {proc.returncode} (see logs/)")
            elif stop(proc, 10) not in (0, -15):
                problems.append(f"{name} did not stop cleanly (exit {proc.returncode})")
        if self.broker is not None:
            self.broker.stop()
        return problems

    # --- what the tools say ----------------------------------------------------------------------
    def _listen_line(self, line: str) -> None:
        text = re.sub(r"\s+id=\S+$", "", line).strip()
        parts = text.split()
        if len(parts) == 3 and parts[2] in ("ONLINE", "OFFLINE"):
            (self.online.add if parts[2] == "ONLINE" else self.online.discard)(parts[1])
            self.on_event("hub", f"{parts[1]} is {parts[2].lower()}", "dim")
        elif len(parts) >= 4 and parts[2] in ("WARNING", "ALERT", "CLEARED"):
            self.on_event("hub", f"stored {parts[2]} from {parts[1]}: {' '.join(parts[3:])}", "cyan")
        elif text and not text.startswith("edge-hub: listening"):
            self.on_event("hub", text, "red")

    def _receive_line(self, line: str) -> None:
        message = line.split(": ", 1)[-1]
        if m := re.search(r"bundle (\S+) from (\S+) verified \(sequence (\S+)\)", message):
            self.on_event("hub", f"verified evidence bundle #{m[3]} from {m[2]}: signature, files and chain ok",
                          "green")
        elif " ERROR " in line or "REJECTED" in line or " WARNING " in line:
            self.on_event("hub", f"evidence: {message}", "red")

    # --- signed commands -------------------------------------------------------------------------
    def command(self, node: str, name: str, args: dict | None = None, *, speak: dict | None = None,
                timeout: float = 20) -> dict | str:
        """Run `edge-hub command` (or `edge-hub speak` with `speak` options); the node's result, or why none."""
        common = ["--broker", self.broker.address, "--key", str(self.key), "--timeout", str(timeout)]
        if speak is not None:
            cmd = [str(BIN / "edge-hub"), "speak", node, *common]
            for key, value in speak.items():
                cmd += [f"--{key}", str(value)]
        else:
            cmd = [str(BIN / "edge-hub"), "command", node, name, *common]
            if args:
                cmd += ["--args-json", json.dumps(args)]
        result = self.procs.run(f"hub-{name}-{node}", cmd, timeout=timeout + 30)
        for line in reversed(result.stdout.splitlines()):
            try:
                answer = json.loads(line)
            except ValueError:
                continue
            if isinstance(answer, dict):
                return answer
        return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else f"exit {result.returncode}"

    # --- what the hub has ------------------------------------------------------------------------
    def messages(self) -> set[tuple[str, str, str]]:
        """(node, id, stage) of every lifecycle message stored."""
        return set(query(self.alerts_db, "SELECT node, id, stage FROM alerts"))

    def verified(self) -> set[tuple[str, str]]:
        """(node, bundle) of every evidence bundle verified by `edge-hub receive`."""
        return set(query(self.receive_db, "SELECT node, bundle FROM bundles WHERE state = 'verified'"))

    def rejected(self) -> list[tuple]:
        return query(self.receive_db, "SELECT node, bundle, state, reason FROM bundles WHERE state != 'verified'")
