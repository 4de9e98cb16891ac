"""`edge-hub provision` against a real mosquitto: identity bound to the certificate, no takeover."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from .conftest import free_ports, require_tool, run_cli

ME = pwd.getpwuid(os.geteuid()).pw_name


class Sandbox:
    """A provisioned site in a folder the broker's own user can reach (mosquitto drops root)."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="edge-provision-", dir="/tmp"))
        os.chmod(self.root, 0o755)
        self.hub = self.root / "etc" / "edge-hub"
        self.mosq = self.root / "etc" / "mosquitto"
        self.persist = self.root / "var" / "lib" / "mosquitto"
        self.node_port, self.hub_port = free_ports(2)
        self.proc: subprocess.Popen | None = None

    def cli(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
        result = run_cli(*args)
        if ok:
            assert result.returncode == 0, result.stderr
        return result

    def provision(self, *nodes: str) -> None:
        self.cli("edge-hub", "keys", "init", "--dir", str(self.hub))
        self.cli("edge-hub", "provision", "init", "--dir", str(self.hub), "--host", "localhost",
                 "--node-port", str(self.node_port), "--hub-port", str(self.hub_port),
                 "--mosquitto-dir", str(self.mosq), "--persistence-dir", str(self.persist))
        self.cli("edge-hub", "provision", "node", *nodes, "--dir", str(self.hub))
        self.persist.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.persist, "mosquitto")
        # What the Debian package's /etc/mosquitto/mosquitto.conf does: a log, then conf.d.
        (self.mosq / "mosquitto.conf").write_text(
            f"log_dest file {self.root}/mosquitto.log\ninclude_dir {self.mosq / 'conf.d'}\n")
        (self.root / "mosquitto.log").touch()
        if os.geteuid() == 0:
            shutil.chown(self.root / "mosquitto.log", "mosquitto")

    def start(self) -> None:
        self.proc = subprocess.Popen([require_tool("mosquitto"), "-c", str(self.mosq / "mosquitto.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        import socket

        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.stderr.read().decode() + self.log()
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.hub_port)) == 0:
                    return
            time.sleep(0.05)
        raise TimeoutError("mosquitto did not start")

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)
        self.proc = None

    def log(self) -> str:
        path = self.root / "mosquitto.log"
        return path.read_text() if path.exists() else ""

    def node_files(self, node: str) -> dict[str, Path]:
        out = self.root / "node" / node
        if not out.exists():
            self.cli("edge-node", "provision", "install", str(self.hub / "bundles" / f"{node}.tar"),
                     "--state-dir", str(out / "state"), "--tls-dir", str(out / "tls"), "--owner", ME)
        return {"ca": out / "tls" / "ca.crt", "cert": out / "tls" / f"{node}.crt", "key": out / "tls" / f"{node}.key"}

    def hub_password(self) -> str:
        env = (self.hub / "mqtt" / "mqtt.env").read_text()
        return next(line.split("=", 1)[1] for line in env.splitlines() if line.startswith("EDGE_HUB_MQTT_PASSWORD="))


class Client:
    """A raw MQTT 5 client that records what it receives and whether it was thrown off."""

    def __init__(self, port: int, client_id: str, *, ca: Path, cert: Path, key: Path, username: str | None = None,
                 password: str | None = None, persistent: bool = False):
        self.messages: list[tuple[str, bytes]] = []
        self.result = None
        self.disconnected = False
        self.granted: list = []
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if username:
            c.username_pw_set(username, password)
        c.tls_set(ca_certs=str(ca), certfile=str(cert), keyfile=str(key))
        c.on_connect = lambda cl, u, f, rc, p: setattr(self, "result", rc)
        c.on_disconnect = lambda cl, u, f, rc, p: setattr(self, "disconnected", True)
        c.on_message = lambda cl, u, m: self.messages.append((m.topic, m.payload))
        c.on_subscribe = lambda cl, u, mid, rcs, p: self.granted.extend(rcs)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600 if persistent else 0
        self.client = c
        try:
            c.connect("localhost", port, clean_start=not persistent, properties=props)
        except OSError as exc:  # TLS refused (a revoked certificate)
            self.result = exc
            return
        c.loop_start()
        deadline = time.monotonic() + 5
        while self.result is None and not self.disconnected and time.monotonic() < deadline:
            time.sleep(0.02)

    @property
    def ok(self) -> bool:
        return self.result is not None and not isinstance(self.result, Exception) and not self.result.is_failure \
            and not self.disconnected

    def subscribe(self, *topics: str) -> None:
        self.granted.clear()
        self.client.subscribe([(t, 1) for t in topics])
        deadline = time.monotonic() + 5
        while len(self.granted) < len(topics) and time.monotonic() < deadline:
            time.sleep(0.02)

    def publish(self, topic: str, payload: bytes = b"{}") -> None:
        info = self.client.publish(topic, payload, qos=1)
        deadline = time.monotonic() + 3
        while not info.is_published() and time.monotonic() < deadline and not self.disconnected:
            time.sleep(0.02)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def wait(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def site():
    box = Sandbox()
    box.provision("market-01", "market-02")
    box.start()
    yield box
    box.stop()
    shutil.rmtree(box.root, ignore_errors=True)


def hub_client(site: Sandbox, client_id: str = "test-hub") -> Client:
    hub = Client(site.hub_port, client_id, ca=site.hub / "mqtt" / "ca.crt", cert=site.hub / "mqtt" / "mqtt-client.crt",
                 key=site.hub / "mqtt" / "mqtt-client.key", username="hub", password=site.hub_password())
    assert hub.ok, hub.result
    return hub


def node_client(site: Sandbox, node: str, client_id: str, **kwargs) -> Client:
    return Client(site.node_port, client_id, **site.node_files(node), **kwargs)


def test_the_broker_reads_its_key_after_dropping_root_and_saves_sessions_every_few_seconds(site):
    key = site.mosq / "edge" / "broker.key"
    assert key.stat().st_mode & 0o777 == 0o640
    if os.geteuid() == 0:  # mosquitto started as root and dropped to its own user before reading it
        assert key.group() == "mosquitto" and key.owner() == "root"
        assert (site.mosq / "edge" / "hub.passwd").group() == "mosquitto"
    conf = (site.mosq / "conf.d" / "edge.conf").read_text()
    assert "persistence true" in conf and "autosave_interval 5" in conf
    # A command queued for an offline node survives a broker killed -9 after the autosave.
    b = node_client(site, "market-02", "market-02", persistent=True)
    b.subscribe("edge/market-02/cmd/#")
    b.close()
    hub = hub_client(site)
    hub.publish("edge/market-02/cmd/ping", b"queued")
    hub.close()
    time.sleep(6.5)
    site.stop(signal.SIGKILL)
    site.start()
    b = node_client(site, "market-02", "market-02", persistent=True)
    try:
        assert wait(lambda: (b"queued" in [p for _, p in b.messages])), site.log()
    finally:
        b.close()


def test_node_a_cannot_take_over_node_b_nor_read_or_write_its_topics(site):
    hub = hub_client(site)
    hub.subscribe("edge/#")
    b = node_client(site, "market-02", "market-02")
    assert b.ok
    b.subscribe("edge/market-02/cmd/#", "edge/market-02/receipt", "$file-response/market-02",
                "$file-response/edge-market-02")
    attackers = []
    try:
        # A's certificate, B's client ids and B's username: the broker makes it A every time.
        for cid in ("market-02", "edge-market-02"):
            a = node_client(site, "market-01", cid, username="market-02", password="anything")
            attackers.append(a)
            assert a.ok, a.result
            a.subscribe("edge/market-02/#", "$file-response/market-02", "$file-response/edge-market-02",
                        "$file-response/#")
            for topic in ("edge/market-02/alert", "edge/market-02/status", "edge/market-02/cmd_result",
                          "edge/market-02/receipt", "edge/market-01/receipt", "edge/market-02/cmd/speak"):
                a.publish(topic, b'{"forged": true}')
            a.publish("edge/market-01/alert", b'{"own": true}')
        assert wait(lambda: sum(t == "edge/market-01/alert" for t, _ in hub.messages) == 2)
        time.sleep(1.0)
        assert not b.disconnected, "node B was thrown off by A's connection"
        assert not any(b'forged' in p for _, p in hub.messages), hub.messages
        assert not any(b'forged' in p for _, p in b.messages), "A wrote on B's commands or receipts"
        # What the hub sends B reaches B, and none of it reaches A.
        for topic in ("edge/market-02/cmd/ping", "edge/market-02/receipt", "$file-response/market-02",
                      "$file-response/edge-market-02"):
            hub.publish(topic, b"for-b")
        assert wait(lambda: len(b.messages) == 4), b.messages
        time.sleep(0.5)
        assert all(not a.messages for a in attackers), [a.messages for a in attackers]
        # A's own receipt is readable by A (the hub writes it), and only there.
        a = attackers[0]
        a.subscribe("edge/market-01/receipt")
        hub.publish("edge/market-01/receipt", b"for-a")
        assert wait(lambda: a.messages == [("edge/market-01/receipt", b"for-a")])
    finally:
        for client in (*attackers, b, hub):
            client.close()


def test_a_node_certificate_does_not_open_the_hub_listener(site):
    for password in (None, "guess"):
        intruder = Client(site.hub_port, "sneaky", **site.node_files("market-01"), username="hub", password=password)
        assert not intruder.ok
        intruder.close()


def test_a_revoked_node_is_refused_and_the_others_stay(site):
    site.node_files("market-01")  # installed on the box before it was stolen
    run = site.cli("edge-hub", "provision", "revoke", "market-01", "--dir", str(site.hub))
    assert "revoked" in run.stdout
    acl = (site.mosq / "edge" / "nodes.acl").read_text()
    assert "user market-01" not in acl and "user market-02" in acl
    assert not (site.hub / "bundles" / "market-01.tar").exists()
    site.stop()
    site.start()
    a = node_client(site, "market-01", "market-01")
    assert not a.ok
    a.close()
    b = node_client(site, "market-02", "market-02")
    assert b.ok
    b.close()
    listed = site.cli("edge-hub", "provision", "list", "--dir", str(site.hub)).stdout
    assert "market-01" in listed and "revoked" in listed


def officer_device(site: Sandbox, officer: str) -> tuple[dict[str, Path], dict]:
    """The files of an officer's device bundle, unpacked as the device would (TLS files, bundle.json)."""
    out = site.root / "officer" / officer
    with tarfile.open(site.hub / "bundles" / f"officer-{officer}.tar") as tar:
        tar.extractall(out, filter="data")
    d = out / f"officer-{officer}"
    return {"ca": d / "ca.crt", "cert": d / "device.crt", "key": d / "device.key"}, json.loads(
        (d / "bundle.json").read_text())


def test_an_officer_device_reports_for_its_own_officer_only_and_reads_only_its_tasks(site):
    run = site.cli("edge-hub", "provision", "officer", "7", "8", "--dir", str(site.hub))
    assert "officer-7.tar" in run.stdout and "officer-8.tar" in run.stdout
    acl = (site.mosq / "edge" / "nodes.acl").read_text()
    assert ("user officer-7\ntopic write edge/officer/7/position\ntopic write edge/officer/7/task_state\n"
            "topic read edge/officer/7/task\n") in acl
    site.proc.send_signal(signal.SIGHUP)  # `systemctl reload mosquitto`
    time.sleep(1.0)
    files, info = officer_device(site, "7")
    assert info["client_id"] == "officer-7" and info["port"] == site.node_port
    assert info["publish"] == ["edge/officer/7/position", "edge/officer/7/task_state"]
    assert info["subscribe"] == ["edge/officer/7/task"]
    hub = hub_client(site)
    hub.subscribe("edge/#")
    device = Client(site.node_port, "officer-7", **files)
    try:
        assert device.ok, device.result
        device.subscribe("edge/officer/7/task", "edge/officer/8/task", "edge/market-01/cmd/#", "edge/+/alert")
        device.publish("edge/officer/7/position", b'{"own": "position"}')
        device.publish("edge/officer/7/task_state", b'{"own": "task_state"}')
        for topic in ("edge/officer/8/position", "edge/officer/8/task_state", "edge/officer/7/task",
                      "edge/officer/8/task", "edge/market-01/alert", "edge/market-01/status"):
            device.publish(topic, b'{"forged": true}')
        assert wait(lambda: {t for t, _ in hub.messages} >= {"edge/officer/7/position", "edge/officer/7/task_state"})
        time.sleep(1.0)
        assert not any(b"forged" in p for _, p in hub.messages), hub.messages
        # The hub's tasks reach the officer's own device only; other officers' and nodes' topics stay shut.
        for topic in ("edge/officer/8/task", "edge/market-01/cmd/ping", "edge/market-01/alert", "edge/officer/7/task"):
            hub.publish(topic, f"for {topic}".encode())
        assert wait(lambda: any(t == "edge/officer/7/task" for t, _ in device.messages))
        time.sleep(0.5)
        assert device.messages == [("edge/officer/7/task", b"for edge/officer/7/task")]
    finally:
        device.close()
        hub.close()
    # A lost device: revoked, its certificate refused after the broker restarts; the other officer's stays.
    site.cli("edge-hub", "provision", "revoke", "officer-8", "--dir", str(site.hub))
    assert "user officer-8" not in (site.mosq / "edge" / "nodes.acl").read_text()
    assert not (site.hub / "bundles" / "officer-8.tar").exists()  # the bundle (with its key) is gone too
    listed = site.cli("edge-hub", "provision", "list", "--dir", str(site.hub)).stdout
    assert "officer-8" in listed and "officer-7" in listed


def test_a_revoked_officer_device_is_refused_by_the_broker(site):
    site.cli("edge-hub", "provision", "officer", "9", "--dir", str(site.hub))
    files, _ = officer_device(site, "9")  # on the device before it was lost
    site.cli("edge-hub", "provision", "revoke", "officer-9", "--dir", str(site.hub))
    site.stop()
    site.start()
    lost = Client(site.node_port, "officer-9", **files)
    assert not lost.ok
    lost.close()
    bad = site.cli("edge-hub", "provision", "officer", "no/slash", "--dir", str(site.hub), ok=False)
    assert bad.returncode == 2 and "officer id" in bad.stderr and "Traceback" not in bad.stderr


def test_provisioning_again_reuses_keys_and_keeps_the_register(site):
    before = {p.name: p.read_bytes() for p in (site.hub / "ca").iterdir()}
    cert_before = (site.hub / "nodes" / "market-01.crt").read_bytes()
    site.cli("edge-hub", "provision", "init", "--dir", str(site.hub))
    site.cli("edge-hub", "provision", "node", "market-01", "--dir", str(site.hub))
    assert {p.name: p.read_bytes() for p in (site.hub / "ca").iterdir()} == before
    assert (site.hub / "nodes" / "market-01.crt").read_bytes() == cert_before
    with tarfile.open(site.hub / "bundles" / "market-01.tar") as tar:
        names = tar.getnames()
    assert sorted(n.split("/")[1] for n in names) == ["bundle.json", "ca.crt", "hub.pub", "node.crt", "node.key"]
    bad = site.cli("edge-hub", "provision", "node", "hub-2", "--dir", str(site.hub), ok=False)
    assert bad.returncode == 2 and "hub" in bad.stderr and "Traceback" not in bad.stderr


def test_bundle_install_writes_the_link_section_and_the_node_reaches_the_hub(site, tmp_path, monkeypatch):
    from edge.config import load_profile
    from edge.link import NodeLink

    profile = tmp_path / "site.toml"
    profile.write_text('[node]\nid = "market-02"\nkind = "camera"\n\n[capture]\nsource = "usb:0"\n\n'
                       '[link]\nhost = "old"\nport = 1883\n\n[upload]\nenabled = true\n')
    state = tmp_path / "state"
    wrong = run_cli("edge-node", "provision", "install", str(site.hub / "bundles" / "market-01.tar"),
                    "--state-dir", str(state), "--tls-dir", str(tmp_path / "tls"), "--owner", ME,
                    "--profile", str(profile))
    assert wrong.returncode == 2 and "market-01" in wrong.stderr and "Traceback" not in wrong.stderr
    site.cli("edge-node", "provision", "install", str(site.hub / "bundles" / "market-02.tar"), "--state-dir",
             str(state), "--tls-dir", str(tmp_path / "tls"), "--owner", ME, "--profile", str(profile))
    assert (tmp_path / "tls" / "market-02.key").stat().st_mode & 0o777 == 0o640
    assert (state / "keys" / "hub.pub").read_bytes() == (site.hub / "hub.pub").read_bytes()
    loaded = load_profile(profile)
    assert loaded.link.port == site.node_port and loaded.upload.enabled and loaded.link.client_id == "market-02"
    hub = hub_client(site)
    hub.subscribe("edge/#")
    link = NodeLink(loaded, state, "test").start()
    try:
        link.publish_alert({"id": "v1", "stage": "alert"})
        assert wait(lambda: any(t == "edge/market-02/alert" and json.loads(p)["id"] == "v1"
                                for t, p in hub.messages), 15)
    finally:
        link.stop()
        hub.close()


def test_the_shipped_broker_files_are_what_provision_writes():
    from edge.hub.provision import Site
    from tests.conftest import REPO

    site = Site(dir=Path("/etc/edge-hub"), hosts=["hub.local"],
                nodes={"reservoir-01": {"serial": "1"}, "market-01": {"serial": "2"}},
                officers={"police-0427": {"serial": "3", "cn": "officer-police-0427"}})
    docs = REPO / "docs" / "mosquitto"
    debian = "persistence true\npersistence_location /var/lib/mosquitto/\n"  # /etc/mosquitto/mosquitto.conf
    assert (docs / "edge.conf").read_text() == site.mosquitto_conf(debian)
    assert (docs / "nodes.acl").read_text() == site.nodes_acl()
    assert (docs / "hub.acl").read_text() == site.hub_acl()


def test_a_node_added_later_works_after_a_broker_reload(site):
    site.cli("edge-hub", "provision", "node", "market-03", "--dir", str(site.hub))
    site.proc.send_signal(signal.SIGHUP)  # `systemctl reload mosquitto`
    time.sleep(1.0)
    hub = hub_client(site)
    hub.subscribe("edge/#")
    c = node_client(site, "market-03", "market-03")
    try:
        assert c.ok
        c.publish("edge/market-03/alert", b'{"new": true}')
        assert wait(lambda: any(t == "edge/market-03/alert" for t, _ in hub.messages))
    finally:
        c.close()
        hub.close()


def test_installing_something_that_is_not_a_bundle_is_one_line(tmp_path):
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar at all" * 100)
    result = run_cli("edge-node", "provision", "install", str(junk), "--state-dir", str(tmp_path / "s"),
                     "--tls-dir", str(tmp_path / "t"), "--owner", ME)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "not a provisioning bundle" in result.stderr
    assert not (tmp_path / "t").exists()
