"""What a running node really sends over MQTT matches the documented API (docs/mqtt-api.yaml)."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import yaml

from edge.crypto import generate_keypair
from edge.link.commands import make_command

from .broker import Broker, Subscriber
from .conftest import BIN, REPO, SCENARIOS
from .onnx_models import model_folder, yolov8_output
from .schemas import SCHEMAS, assert_valid
from .test_node_pipeline import CLASSES, PERSON, ROD

PROFILE = """
[node]
id = "api-node"
kind = "camera"
location = {{ lat = 30.27, lon = 120.15 }}

[capture]
source = "usb:0"

[detect]
model = "model"
motion = {{ enabled = false }}

[[zones]]
name = "shore"
polygon = [[0.0, 0.60], [1.0, 0.60], [1.0, 0.80], [0.0, 0.80]]

[[rules]]
name = "no_fishing"
kind = "fishing"
zones = ["shore"]
dwell_s = 1
recheck_s = 1
clear_after_s = 1

[link]
host = "127.0.0.1"
port = {port}
stats_interval_s = 1
reconnect = {{ initial_s = 0.1, max_s = 0.5 }}
"""


def test_the_api_document_references_every_schema():
    doc = yaml.safe_load((REPO / "docs" / "mqtt-api.yaml").read_text())
    assert doc["asyncapi"].startswith("3.")
    refs = {m["payload"]["$ref"] for m in doc["components"]["messages"].values()}
    assert refs == {f"./schemas/{p.name}" for p in SCHEMAS.glob("*.schema.json")}
    for message in doc["components"]["messages"].values():
        for example in message.get("examples", []):
            assert_valid(message["payload"]["$ref"].split("/")[-1].removesuffix(".schema.json"), example["payload"])


def test_a_running_node_sends_what_the_schemas_describe(tmp_path):
    broker = Broker(tmp_path / "broker").start()
    hub = Subscriber(broker, ["edge/#"]).wait_ready()
    model_folder(tmp_path / "model", yolov8_output([PERSON, ROD], 6), CLASSES)
    profile = tmp_path / "node.toml"
    profile.write_text(PROFILE.format(port=broker.port))
    state = tmp_path / "state"
    hub_key = generate_keypair(tmp_path / "hub.key", state / "keys" / "hub.pub")
    generate_keypair(state / "keys" / "node.key", state / "keys" / "node.pub")
    node = subprocess.Popen(
        [str(BIN / "edge-node"), "run", "--config", str(profile), "--state-dir", str(state),
         "--source", f"sim:{SCENARIOS / 'reservoir_day_angler.toml'}?loop=1"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        def topics(m):
            return {t.rsplit("/", 1)[-1] for t, _, _ in m}
        assert hub.wait_for(lambda m: {"status", "alert", "stats"} <= topics(m), timeout=60), topics(hub.messages)
        hub.wait_for(lambda m: any(json.loads(p)["stage"] == "alert" for t, p, _ in m if t.endswith("/alert")), 30)
        ping = make_command(hub_key, "api-node", "ping")
        bad = make_command(hub_key, "api-node", "ping", now=time.time() - 3600)
        for cmd in (ping, bad):
            hub.client.publish("edge/api-node/cmd/ping", json.dumps(cmd), qos=1)
        assert hub.wait_for(lambda m: sum(t.endswith("/cmd_result") for t, _, _ in m) >= 2, timeout=20)
        node.send_signal(signal.SIGTERM)
        assert node.wait(20) == 0, node.stderr.read()
        hub.wait_for(lambda m: any(t.endswith("/alert") and json.loads(p)["stage"] == "cleared" for t, p, _ in m), 10)
        seen = {}
        for topic, payload, _ in hub.messages:
            kind = topic.rsplit("/", 1)[-1]
            name = {"status": "status", "alert": "alert", "stats": "stats", "cmd_result": "cmd_result"}.get(kind)
            if name:
                seen.setdefault(name, []).append(assert_valid(name, payload))
        assert [a["stage"] for a in seen["alert"]][:3] == ["warning", "alert", "cleared"]
        assert {r["id"]: r["ok"] for r in seen["cmd_result"]} == {ping["id"]: True, bad["id"]: False}
        assert seen["status"][0]["state"] == "online" and seen["status"][-1]["state"] == "offline"
        assert seen["stats"][0]["source"] == "streaming"
        assert_valid("command", ping)
    finally:
        node.kill()
        hub.close()
        broker.stop()
