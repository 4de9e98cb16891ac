"""edge-hub: keys, a listener that stores each lifecycle message once, commands that get answers."""

from __future__ import annotations

import json
import subprocess
import time

import paho.mqtt.client as mqtt

from edge.crypto import generate_keypair
from edge.hub.store import AlertStore

from .broker import Broker
from .conftest import BIN, REPO, run_cli
from .test_link import start_node, write_profile


def test_keys_init_makes_a_private_and_a_public_key(tmp_path):
    result = run_cli("edge-hub", "keys", "init", "--dir", str(tmp_path))
    assert result.returncode == 0 and "hub.pub" in result.stdout
    assert oct((tmp_path / "hub.key").stat().st_mode & 0o777) == "0o600"
    assert (tmp_path / "hub.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    again = run_cli("edge-hub", "keys", "init", "--dir", str(tmp_path))
    assert again.returncode == 2 and "refusing to replace" in again.stderr


def test_listen_prints_and_stores_each_lifecycle_message_once(tmp_path):
    broker = Broker(tmp_path / "broker").start()
    db = tmp_path / "hub.db"
    listener = subprocess.Popen([str(BIN / "edge-hub"), "listen", "--broker", f"127.0.0.1:{broker.port}",
                                 "--db", str(db), "--count", "3", "--duration", "30"],
                                cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = listener.stderr.readline()  # subscribed (it says so only then)
        assert "listening on" in first, first
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="node-sim", protocol=mqtt.MQTTv5)
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        base = {"id": "n1-no_fishing-1", "node": "n1", "rule": "no_fishing", "kind": "fishing", "zone": "shore",
                "objects": [{"class": "person"}], "ts": "2026-04-10T09:00:00+08:00"}
        for stage in ("warning", "warning", "alert", "alert", "cleared"):  # redeliveries included
            pub.publish("edge/n1/alert", json.dumps({**base, "stage": stage}), qos=1).wait_for_publish(5)
        pub.publish("edge/n1/status", json.dumps({"state": "online", "ts": "x", "version": "1"}), qos=1, retain=True)
        out, err = listener.communicate(timeout=40)
        err = first + err
        pub.loop_stop()
    finally:
        listener.kill()
        broker.stop()
    assert listener.returncode == 0, err
    lines = [line for line in out.splitlines() if "n1-no_fishing-1" in line]
    assert [line.split()[2] for line in lines] == ["WARNING", "ALERT", "CLEARED"]
    store = AlertStore(db)
    assert store.count() == 3 and store.count("alert") == 1
    store.close()


def test_command_signs_sends_and_reports_the_result(tmp_path):
    broker = Broker(tmp_path / "broker").start()
    state = tmp_path / "state"
    generate_keypair(tmp_path / "hub.key", state / "keys" / "hub.pub")
    generate_keypair(tmp_path / "stolen.key", tmp_path / "stolen.pub")
    node = start_node(write_profile(tmp_path, broker), state)
    try:
        time.sleep(0.5)
        common = ["--broker", f"127.0.0.1:{broker.port}", "--timeout", "10"]
        ok = run_cli("edge-hub", "command", "n1", "ping", "--key", str(tmp_path / "hub.key"), *common)
        assert ok.returncode == 0, ok.stderr
        assert json.loads(ok.stdout)["ok"] is True
        forged = run_cli("edge-hub", "command", "n1", "ping", "--key", str(tmp_path / "stolen.key"), *common)
        assert forged.returncode == 1 and json.loads(forged.stdout)["error"] == "bad signature"
        absent = run_cli("edge-hub", "command", "n9", "ping", "--key", str(tmp_path / "hub.key"),
                         "--broker", f"127.0.0.1:{broker.port}", "--timeout", "1")
        assert absent.returncode == 2 and "no result from n9" in absent.stderr
    finally:
        node.kill()
        broker.stop()
    down = run_cli("edge-hub", "command", "n1", "ping", "--key", str(tmp_path / "hub.key"),
                   "--broker", f"127.0.0.1:{broker.port}")
    assert down.returncode == 2 and "cannot connect" in down.stderr


def test_the_hub_tools_are_library_functions_taking_settings(tmp_path):
    """listen and send_command called in-process with settings objects (what the hub service does),
    against a real broker and a real node link; a stop event ends listen."""
    import threading

    from edge.hub.command import send_command
    from edge.hub.listen import listen
    from edge.hub.settings import BrokerSettings, CommandSettings, ListenSettings

    broker = Broker(tmp_path / "broker").start()
    state = tmp_path / "state"
    generate_keypair(tmp_path / "hub.key", state / "keys" / "hub.pub")
    node = start_node(write_profile(tmp_path, broker), state)
    reach = BrokerSettings(broker=f"127.0.0.1:{broker.port}")
    stop = threading.Event()
    status: list[int] = []
    listener = threading.Thread(target=lambda: status.append(listen(ListenSettings(reach, db=tmp_path / "hub.db"),
                                                                     stop)))
    listener.start()
    try:
        time.sleep(0.5)
        result = send_command(CommandSettings(reach, key=tmp_path / "hub.key", timeout=10), "n1", "ping", {})
        assert result is not None and result["ok"] is True and result["node"] == "n1"
        assert send_command(CommandSettings(reach, key=tmp_path / "hub.key", timeout=1), "n9", "ping", {}) is None
        store = AlertStore(tmp_path / "hub.db")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and store.status("n1") is None:
            time.sleep(0.1)
        assert (store.status("n1") or {}).get("state") == "online"
        store.close()
        stop.set()
        listener.join(10)
        assert not listener.is_alive() and status == [0]
    finally:
        stop.set()
        node.kill()
        broker.stop()
