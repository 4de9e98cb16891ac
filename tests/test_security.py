"""TLS with client certificates, per-node passwords, and the documented ACL, on a real mosquitto."""

from __future__ import annotations

import json
import time

import paho.mqtt.client as mqtt
import pytest

from edge.config import load_profile
from edge.link import NodeLink

from .broker import Broker, Pki, Subscriber
from .conftest import REPO

ACL = (REPO / "docs" / "mosquitto" / "acl").read_text()
USERS = {"n1": "pw-n1", "n2": "pw-n2", "hub": "pw-hub"}

PROFILE = """
[node]
id = "{node}"
kind = "camera"

[capture]
source = "usb:0"

[link]
host = "127.0.0.1"
port = {port}
username = "{user}"
password_env = "TEST_MQTT_PASSWORD"
tls = {{ ca_file = "{ca}", cert_file = "{cert}", key_file = "{key}" }}
reconnect = {{ initial_s = 0.1, max_s = 0.5 }}
"""


@pytest.fixture
def secure(tmp_path):
    pki = Pki(tmp_path / "pki")
    broker = Broker(tmp_path / "broker", pki=pki, users=USERS, acl=ACL).start()
    hub = Subscriber(broker, ["edge/#"], username="hub", password="pw-hub", cert=pki.client("hub")).wait_ready()
    yield pki, broker, hub
    hub.close()
    broker.stop()


def node_link(tmp_path, pki, broker, node: str, user: str, monkeypatch) -> NodeLink:
    cert, key = pki.client(node)
    path = tmp_path / f"{node}-{user}.toml"
    path.write_text(PROFILE.format(node=node, user=user, port=broker.port, ca=pki.ca_file, cert=cert, key=key))
    monkeypatch.setenv("TEST_MQTT_PASSWORD", USERS[user])
    return NodeLink(load_profile(path), tmp_path / f"state-{node}-{user}", "test")


def test_a_node_with_its_certificate_and_password_reaches_the_hub(tmp_path, secure, monkeypatch):
    pki, broker, hub = secure
    link = node_link(tmp_path, pki, broker, "n1", "n1", monkeypatch).start()
    try:
        link.publish_alert({"id": "a1", "stage": "alert"})
        assert hub.wait_for(lambda m: any(t == "edge/n1/alert" for t, _, _ in m), timeout=15)
        assert any(t == "edge/n1/status" and json.loads(p)["state"] == "online" for t, p, _ in hub.messages)
    finally:
        link.stop()


def test_a_message_the_broker_refuses_is_set_aside_and_does_not_block_the_queue(tmp_path, monkeypatch):
    pki = Pki(tmp_path / "pki")
    # n1 may say it is online as n2 but not alert as n2 (a half-wrong ACL): the alert is refused.
    acl = ACL + "\nuser n1\ntopic write edge/n2/status\ntopic read edge/n2/cmd/#\n"
    broker = Broker(tmp_path / "broker", pki=pki, users=USERS, acl=acl).start()
    hub = Subscriber(broker, ["edge/#"], username="hub", password="pw-hub", cert=pki.client("hub")).wait_ready()
    link = node_link(tmp_path, pki, broker, "n2", "n1", monkeypatch).start()
    try:
        link.publish_alert({"id": "forged", "stage": "alert"})
        deadline = time.monotonic() + 10
        while link.outbox.dead_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert link.outbox.dead_count() == 1 and link.outbox.depth() == 0, "refused, set aside, queue not stuck"
        time.sleep(0.5)
        assert not any(t == "edge/n2/alert" for t, _, _ in hub.messages)
        link.publish_alert({"id": "second", "stage": "alert"})
        assert hub.wait_for(lambda m: True, 0.1) and link.outbox.dead_count() >= 1
    finally:
        link.stop()
        hub.close()
        broker.stop()


def publish_once(broker, pki, user: str, password: str, topic: str, payload: bytes) -> None:
    """Connect as `user`, try one QoS 1 publish, wait for its PUBACK or the broker hanging up."""
    cert, key = pki.client(user)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"raw-{user}", protocol=mqtt.MQTTv311)
    client.username_pw_set(user, password)
    client.tls_set(ca_certs=str(pki.ca_file), certfile=str(cert), keyfile=str(key))
    client.connect("127.0.0.1", broker.port)
    deadline = time.monotonic() + 5
    while not client.is_connected() and time.monotonic() < deadline:
        client.loop(timeout=0.05)
    info = client.publish(topic, payload, qos=1)
    while not info.is_published() and time.monotonic() < deadline:
        if client.loop(timeout=0.05) != mqtt.MQTT_ERR_SUCCESS:
            break  # mosquitto may hang up on a client that writes where it may not
    client.disconnect()


def test_a_raw_client_with_node_credentials_cannot_spoof_another_node(secure):
    pki, broker, hub = secure
    for topic in ("edge/n2/alert", "edge/n2/status", "edge/n2/cmd/zone", "edge/n2/cmd_result"):
        publish_once(broker, pki, "n1", "pw-n1", topic, b'{"id": "spoof"}')
    publish_once(broker, pki, "n1", "pw-n1", "edge/n1/alert", b'{"id": "own"}')
    assert hub.wait_for(lambda m: any(t == "edge/n1/alert" for t, _, _ in m), timeout=10)
    time.sleep(0.5)
    assert not any(t.startswith("edge/n2/") for t, _, _ in hub.messages)


@pytest.mark.parametrize("case", ["no certificate", "wrong password"])
def test_the_broker_turns_away_clients_without_credentials(secure, case):
    pki, broker, hub = secure
    cert, key = pki.client("n1")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"intruder-{case}", protocol=mqtt.MQTTv5)
    client.username_pw_set("n1", "pw-n1" if case == "no certificate" else "guess")
    if case == "no certificate":
        client.tls_set(ca_certs=str(pki.ca_file))
    else:
        client.tls_set(ca_certs=str(pki.ca_file), certfile=str(cert), keyfile=str(key))
    outcome = {}
    client.on_connect = lambda c, u, f, rc, p: outcome.setdefault("rc", rc)
    try:
        client.connect("127.0.0.1", broker.port)
        deadline = time.monotonic() + 5
        while "rc" not in outcome and time.monotonic() < deadline:
            if client.loop(timeout=0.1) != mqtt.MQTT_ERR_SUCCESS:
                break
    except (OSError, mqtt.WebsocketConnectionError):
        outcome["rc"] = "tls refused"
    assert outcome.get("rc") is None or outcome["rc"] == "tls refused" or outcome["rc"].is_failure
    client.disconnect()
