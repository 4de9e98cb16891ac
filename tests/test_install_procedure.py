"""docs/operations.md's installation, run command by command as written, on this machine.

The commands come from the doc's `sh` blocks, so the doc and this test cannot drift. What is not the
doc's literal text, and why:

- paths: `/etc/`, `/var/lib/`, `/var/log/`, `/run/`, `/root/` and `/opt/edge` are mapped into a
  scratch folder (a test must not write the machine's /etc); `hub.local` is `localhost` and the
  ports 8883/8884 are free ports;
- the three "every machine" lines (apt, git clone, make setup) are what `make test` has already done:
  the repository's files are copied to the scratch `/opt/edge` and its `.venv` is this virtualenv;
  the OS package's mosquitto.conf is copied to the scratch `/etc/mosquitto`;
- `systemctl` is tests/systemd_stub.py (it starts the unit's ExecStart as its User=); `sudo` runs the
  command (we are root; `-u USER` is `runuser`); `scp` is `cp` (hub and node are one machine here);
  `useradd` does nothing for a user that exists;
- the one edit the doc asks the operator to make to the profile, `[capture] source`, points the unit's
  camera at a simulated scene, as there is no camera here.

The service users `edge` and `edge-hub` are created on this machine if missing (the doc's useradd).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from .conftest import BIN, REPO, free_ports, require_tool

DOC = REPO / "docs" / "operations.md"
SECURITY = REPO / "docs" / "security.md"
ALREADY_DONE = {
    "sudo apt update && sudo apt install -y git make python3-venv",
    "sudo git clone <this repository> /opt/edge",
    "cd /opt/edge && sudo make setup",
}

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the procedure installs as root (service users, owners)")


def doc_commands(path: Path) -> list[str]:
    """Every command of the ```sh blocks, continuation lines joined."""
    commands, block, current = [], False, ""
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            block = line.strip() == "```sh" if not block else False
            continue
        if not block or not line.strip() or line.lstrip().startswith("#"):
            continue
        current += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            commands.append(current.strip())
            current = ""
    return commands


SHIMS = {
    # As the user when it can run this virtualenv's Python (a Python under /root cannot be run by a
    # service user: then as root, and the owners and modes are checked by the assertions instead).
    "sudo": '#!/bin/sh\nif [ "$1" = "-u" ]; then u="$2"; shift 2\n'
            '  if runuser -u "$u" -- "$EDGE_STUB_PY" -c "" 2>/dev/null; then exec runuser -u "$u" -- "$@"; fi\n'
            'fi\nexec "$@"\n',
    "scp": '#!/bin/sh\nexec cp "${1#*:}" "${2#*:}"\n',
    "useradd": '#!/bin/sh\nfor last; do :; done\nid "$last" >/dev/null 2>&1 && exit 0\nexec /usr/sbin/useradd "$@"\n',
}


class Machine:
    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="edge-install-", dir="/tmp"))
        os.chmod(self.root, 0o755)
        self.node_port, self.hub_port = free_ports(2)
        r = str(self.root)
        self.rules = [
            [r"(?<![\w.-])/opt/edge/\.venv/bin/", f"{BIN}/"],
            [r"(?<![\w.-])(/opt/edge|/etc/|/var/lib/|/var/log/|/run/|/root/)", r + r"\1"],
            [r"\bhub\.local\b", "localhost"],
            [r"\b8883\b", str(self.node_port)],
            [r"\b8884\b", str(self.hub_port)],
        ]
        self.shims = self.root / "shims"
        self.shims.mkdir()
        for name, text in SHIMS.items():
            (self.shims / name).write_text(text)
        (self.shims / "systemctl").write_text(
            f'#!/bin/sh\nexec {BIN / "python"} {REPO / "tests" / "systemd_stub.py"} "$@"\n')
        for shim in self.shims.iterdir():
            shim.chmod(0o755)
        self.env = {**os.environ, "PATH": f"{self.shims}:{BIN}:{os.environ['PATH']}",
                    "PYTHONPATH": f"{self.root}/opt/edge", "EDGE_STUB_SANDBOX": r,
                    "EDGE_STUB_RULES": json.dumps(self.rules), "EDGE_STUB_PY": str(BIN / "python"),
                    "EDGE_STATE_DIR": f"{r}/var/lib/edge-node"}  # the default state_dir, in the sandbox
        self.ran: list[str] = []

    def path(self, absolute: str) -> Path:
        return Path(self.rewrite(absolute))

    def rewrite(self, text: str) -> str:
        for pattern, repl in self.rules:
            text = re.sub(pattern, repl, text)
        return text

    def what_make_did(self) -> None:
        """The repository at /opt/edge with its .venv, and the mosquitto package's own files."""
        files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True).stdout
        opt = self.root / "opt" / "edge"
        for name in files.splitlines():
            src = REPO / name
            if src.is_file():
                (opt / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, opt / name)
        (opt / ".venv").symlink_to(BIN.parent)
        for folder in (opt, *opt.rglob("*")):
            if folder.is_dir():
                folder.chmod(0o755)
        mosq = self.root / "etc" / "mosquitto"
        (mosq / "conf.d").mkdir(parents=True)
        (mosq / "mosquitto.conf").write_text(self.rewrite(Path("/etc/mosquitto/mosquitto.conf").read_text()))
        (self.root / "etc" / "systemd" / "system").mkdir(parents=True)
        for folder in ("var/lib/mosquitto", "var/log/mosquitto"):
            (self.root / folder).mkdir(parents=True)
            shutil.chown(self.root / folder, "mosquitto")
        (self.root / "root").mkdir(mode=0o700)

    def run(self, command: str, timeout: float = 180) -> subprocess.CompletedProcess:
        if command in ALREADY_DONE:
            return subprocess.CompletedProcess(command, 0, "", "")
        real = self.rewrite(command)
        self.ran.append(command)
        result = subprocess.run(["bash", "-c", real], env=self.env, cwd=self.root / "root", capture_output=True,
                                text=True, timeout=timeout)
        assert result.returncode == 0, f"`{command}` failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def stop_services(self) -> None:
        pids = self.root / "run" / "systemd-stub"
        for pid_file in pids.glob("*.pid") if pids.exists() else ():
            subprocess.run([str(self.shims / "systemctl"), "stop", pid_file.stem], env=self.env, check=False)

    def journal(self, unit: str) -> str:
        path = self.root / "journal" / f"{unit}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def point_camera_at_a_scene(machine: Machine) -> None:
    """The operator's edit of `[capture] source` (the doc says to set it for the camera)."""
    profile = machine.path("/opt/edge/firmware_config/site.toml")
    scene = machine.path("/opt/edge/simulator/scenarios/reservoir_day_angler.toml")
    text = re.sub(r'^source = .*$', f'source = "sim:{scene}?realtime=0"', profile.read_text(), count=1,
                  flags=re.M)
    profile.write_text(text)


# Where the tools write by default on a real machine: the procedure must never reach them.
REAL = [Path(p) for p in ("/etc/edge-hub", "/etc/edge", "/etc/mosquitto/edge", "/etc/mosquitto/conf.d/edge.conf",
                          "/var/lib/edge-hub", "/var/lib/edge-node")]


@pytest.fixture
def machine():
    require_tool("mosquitto")
    before = {p for p in REAL if p.exists()}
    m = Machine()
    m.what_make_did()
    yield m
    m.stop_services()
    leaked = {p for p in REAL if p.exists()} - before
    for path in leaked:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    assert not leaked, f"the procedure wrote outside its sandbox: {sorted(map(str, leaked))}"
    if not os.environ.get("EDGE_KEEP_SANDBOX"):
        shutil.rmtree(m.root, ignore_errors=True)


def test_the_documented_installation_ends_with_an_alert_at_the_hub_over_tls(machine):
    from .test_provision import Client, wait

    commands = doc_commands(DOC)
    assert set(commands) >= ALREADY_DONE, "the doc's first steps changed: update ALREADY_DONE"
    assert any("provision install" in c for c in commands) and any("enable --now edge-node@site" in c
                                                                    for c in commands)
    for command in commands:
        if command.startswith("sudo systemctl enable --now edge-node@"):
            point_camera_at_a_scene(machine)
        machine.run(command)

    # The smoke run's alert is at the hub, stored by the listen service, over the TLS listeners.
    db = machine.path("/var/lib/edge-hub/hub-alerts.db")
    assert db.exists(), machine.journal("edge-hub-listen.service")
    with sqlite3.connect(db) as conn:
        stages = {row[0] for row in conn.execute("SELECT stage FROM alerts WHERE node = 'reservoir-01'")}
    assert "alert" in stages, (stages, machine.journal("edge-hub-listen.service")[-3000:],
                               machine.journal("mosquitto.service")[-2000:],
                               machine.path("/var/log/mosquitto/mosquitto.log").read_text()[-2000:])
    # The unit's node came up on its (simulated) camera and reached the broker.
    assert wait(lambda: "link up" in machine.journal("edge-node@site.service"), 90), \
        machine.journal("edge-node@site.service")[-3000:]
    conf = machine.path("/etc/mosquitto/conf.d/edge.conf").read_text()
    assert "require_certificate true" in conf and "listener 1883" not in conf
    broker_key = machine.path("/etc/mosquitto/edge/broker.key")
    assert broker_key.group() == "mosquitto" and broker_key.stat().st_mode & 0o777 == 0o640
    assert machine.path("/etc/edge/tls/reservoir-01.key").group() == "edge"

    # market-01's bundle (node A) cannot be reservoir-01 (node B): not its client id, nor its topics.
    a_files = machine.root / "a"
    subprocess.run([str(BIN / "edge-node"), "provision", "install",
                    str(machine.path("/etc/edge-hub/bundles/market-01.tar")), "--state-dir", str(a_files / "state"),
                    "--tls-dir", str(a_files / "tls"), "--owner", "edge"], env=machine.env, check=True,
                   capture_output=True)
    hub_env = dict(line.split("=", 1) for line in machine.path("/etc/edge-hub/mqtt/mqtt.env").read_text().splitlines()
                   if "=" in line and not line.startswith("#"))
    hub = Client(machine.hub_port, "procedure-test-hub", ca=Path(hub_env["EDGE_HUB_TLS_CA"]),
                 cert=Path(hub_env["EDGE_HUB_TLS_CERT"]), key=Path(hub_env["EDGE_HUB_TLS_KEY"]), username="hub",
                 password=hub_env["EDGE_HUB_MQTT_PASSWORD"])
    assert hub.ok
    hub.subscribe("edge/reservoir-01/#")
    a = Client(machine.node_port, "reservoir-01", ca=a_files / "tls" / "ca.crt", cert=a_files / "tls" / "market-01.crt",
               key=a_files / "tls" / "market-01.key", username="reservoir-01")
    try:
        assert a.ok
        a.subscribe("edge/reservoir-01/cmd/#")
        a.publish("edge/reservoir-01/alert", b'{"id": "forged", "stage": "alert"}')
        hub.publish("edge/reservoir-01/cmd/ping", b"for reservoir-01")
        time.sleep(1.0)
        assert not any(b"forged" in p for _, p in hub.messages)
        assert not a.messages
        log = machine.path("/var/log/mosquitto/mosquitto.log").read_text(errors="replace")
        assert re.search(r"New client connected from .* as market-01 ", log), log[-2000:]
        assert not re.search(r"Client reservoir-01 already connected", log)
    finally:
        a.close()

    # security.md: revoking market-01 shuts it out.
    for command in doc_commands(SECURITY):
        machine.run(command)
    again = Client(machine.node_port, "market-01", ca=a_files / "tls" / "ca.crt", cert=a_files / "tls" / "market-01.crt",
                   key=a_files / "tls" / "market-01.key")
    assert not wait(lambda: again.ok, 2)
    again.close()
    hub.close()
