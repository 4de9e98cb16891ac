"""The MQTT link against a real mosquitto: durable outbox, order, status, restarts, kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edge.config import load_profile
from edge.link import NodeLink

from .broker import Broker, Subscriber
from .conftest import REPO
from .receipt_hub import ReceiptingHub

PROFILE = """
[node]
id = "{node}"
kind = "camera"

[capture]
source = "usb:0"

[link]
host = "127.0.0.1"
port = {port}
keepalive_s = 5
reconnect = {{ initial_s = 0.1, max_s = 0.5 }}
stats_interval_s = 1
{extra}
"""


def write_profile(tmp_path, broker, node="n1", extra="") -> str:
    path = tmp_path / f"{node}.toml"
    path.write_text(PROFILE.format(node=node, port=broker.port, extra=extra))
    return str(path)


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path / "broker").start()
    yield b
    b.stop()


def alerts(messages, topic="edge/n1/alert") -> list[dict]:
    return [json.loads(p) for t, p, _ in messages if t == topic]


def first_seen(ids: list[str]) -> list[str]:
    seen, out = set(), []
    for i in ids:
        if i not in seen:
            seen.add(i)
            out.append(i)
    return out


def test_alerts_written_while_the_hub_is_away_arrive_in_order(tmp_path, broker):
    hub = ReceiptingHub(broker).wait_ready()
    broker.stop()  # the uplink is down
    link = NodeLink(load_profile(write_profile(tmp_path, broker)), tmp_path / "state", "test").start()
    for i in range(300):
        link.publish_alert({"id": f"v{i:04d}", "stage": "alert", "n": i})
    assert link.outbox.depth() == 300
    time.sleep(0.5)
    broker.start()  # back: the node and the hub reconnect on their own
    try:
        assert hub.wait_for(lambda m: len({a["n"] for a in alerts(m)}) == 300, timeout=60)
        ids = [a["id"] for a in alerts(hub.messages)]
        assert first_seen(ids) == [f"v{i:04d}" for i in range(300)]
        deadline = time.monotonic() + 10
        while link.outbox.depth() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert link.outbox.depth() == 0, "receipted rows are deleted"
    finally:
        link.stop()
        hub.close()


def test_broker_restart_mid_stream_loses_nothing_and_keeps_order(tmp_path, broker):
    hub = Subscriber(broker, ["edge/+/alert"]).wait_ready()
    link = NodeLink(load_profile(write_profile(tmp_path, broker)), tmp_path / "state", "test").start()
    total = 2000

    def produce():
        for i in range(total):
            link.publish_alert({"id": f"v{i:05d}", "stage": "alert", "n": i})
            if i % 50 == 0:
                time.sleep(0.02)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        assert hub.wait_for(lambda m: len(m) >= 300, timeout=30)
        broker.restart()  # in the middle of the stream
        producer.join(60)
        assert hub.wait_for(lambda m: len({a["n"] for a in alerts(m)}) == total, timeout=90), \
            f"{len({a['n'] for a in alerts(hub.messages)})} of {total}"
        order = first_seen([a["id"] for a in alerts(hub.messages)])
        assert order == [f"v{i:05d}" for i in range(total)], "no reordering"
    finally:
        link.stop()
        hub.close()


def start_node(profile: str, state, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "tests.link_node", profile, str(state), *extra], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    return proc


def test_kill_9_with_a_backlog_loses_nothing_and_duplicates_keep_their_id(tmp_path, broker):
    profile = write_profile(tmp_path, broker, extra="inflight = 4")
    hub = Subscriber(broker, ["edge/+/alert", "edge/+/status"]).wait_ready()
    total = 3000
    node = start_node(profile, tmp_path / "state", "--fill", str(total))
    try:
        assert hub.wait_for(lambda m: len(alerts(m)) >= 200, timeout=30)
        node.send_signal(signal.SIGKILL)  # power cut in the middle of the drain
        node.wait(10)
        got_before = len({a["n"] for a in alerts(hub.messages)})
        assert got_before < total
        # the broker tells the hub the node is gone (its Last Will)
        assert hub.wait_for(lambda m: any(t == "edge/n1/status" and json.loads(p)["state"] == "offline"
                                          for t, p, _ in m), timeout=20)
        node = start_node(profile, tmp_path / "state")  # power back: the same state folder
        assert hub.wait_for(lambda m: len({a["n"] for a in alerts(m)}) == total, timeout=120)
        received = alerts(hub.messages)
        assert first_seen([a["id"] for a in received]) == [f"v{i:06d}" for i in range(total)]
        by_id: dict[str, set] = {}
        for a in received:
            by_id.setdefault(a["id"], set()).add(a["n"])
        assert all(len(ns) == 1 for ns in by_id.values()), "a duplicate is the same message, same id"
        assert hub.wait_for(lambda m: json.loads([p for t, p, _ in m if t == "edge/n1/status"][-1])["state"]
                            == "online", timeout=10)
    finally:
        node.kill()
        hub.close()


def test_status_is_retained_online_and_offline_after_a_graceful_stop(tmp_path, broker):
    node = start_node(write_profile(tmp_path, broker), tmp_path / "state")
    late = None
    try:
        time.sleep(1.0)
        late = Subscriber(broker, ["edge/n1/status"], client_id="late-hub")  # joins after the fact
        assert late.wait_for(lambda m: m and json.loads(m[-1][1])["state"] == "online", timeout=10)
        topic, payload, retained = late.messages[-1]
        assert retained and json.loads(payload)["version"] == "test"
        node.send_signal(signal.SIGTERM)
        assert node.wait(15) == 0
        assert late.wait_for(lambda m: json.loads(m[-1][1])["state"] == "offline", timeout=10)
    finally:
        node.kill()
        if late is not None:
            late.close()


def test_mqtt_3_1_1_works_too(tmp_path, broker):
    hub = Subscriber(broker, ["edge/+/alert"]).wait_ready()
    link = NodeLink(load_profile(write_profile(tmp_path, broker, extra='protocol = "3.1.1"')), tmp_path / "state",
                    "test").start()
    try:
        for i in range(50):
            link.publish_alert({"id": f"v{i:02d}", "stage": "alert", "n": i})
        assert hub.wait_for(lambda m: len({a["n"] for a in alerts(m)}) == 50, timeout=20)
        broker.restart()
        link.publish_alert({"id": "after", "stage": "alert", "n": 50})
        assert hub.wait_for(lambda m: any(a["id"] == "after" for a in alerts(m)), timeout=30)
    finally:
        link.stop()
        hub.close()


def test_a_message_logged_but_cut_off_before_the_outbox_is_sent_at_the_next_start(tmp_path, broker, level_clip):
    """Power cut between the lifecycle log's fsync and the outbox commit: the next start sends it."""
    from edge.rules import JsonlSink, read_events

    from .conftest import PROFILES, run_cli

    state = tmp_path / "state"
    hub = Subscriber(broker, ["edge/+/alert"]).wait_ready()
    first = NodeLink(load_profile(write_profile(tmp_path, broker, node="reservoir-01")), state, "test").start()
    first.publish_alert({"id": "v-queued", "stage": "alert"})  # logged and queued: nothing to redo
    first.stop()
    sink = JsonlSink(state / "lifecycle.jsonl")
    sink.write({"id": "v-queued", "stage": "alert"})
    sink.write({"id": "v-cut", "stage": "warning", "node": "reservoir-01"})  # logged; the power went here
    sink.close()
    with open(state / "lifecycle.jsonl", "ab") as f:
        f.write(b'{"id": "v-torn", "sta')  # and a line torn by the cut
    try:
        args = ["edge-node", "run", "--config", str(PROFILES / "reservoir.toml"), "--state-dir", str(state),
                "--source", f"file:{level_clip}?loop=1", "--duration", "4",
                "--set", "link.host=\"127.0.0.1\"", "--set", f"link.port={broker.port}", "--set", "evidence.enabled=false"]
        env = {**os.environ, "EDGE_MQTT_PASSWORD": "unused"}  # the test broker lets anyone in
        result = run_cli(*args, env=env)
        assert result.returncode == 0, result.stderr[-2000:]
        assert "v-cut warning was logged but never queued" in result.stderr
        assert hub.wait_for(lambda m: any(a["id"] == "v-cut" for a in alerts(m, "edge/reservoir-01/alert")), timeout=20)
        assert "v-queued alert was logged but never queued" not in result.stderr  # the outbox had it: not twice
        again = run_cli(*args, env=env)  # the outbox took it: a second start sends nothing again
        assert again.returncode == 0 and "never queued" not in again.stderr, again.stderr[-2000:]
        sink = JsonlSink(state / "lifecycle.jsonl")  # the torn line was ended: the next one stays whole
        sink.write({"id": "v-after", "stage": "alert"})
        sink.close()
        assert [e["id"] for e in read_events(state / "lifecycle.jsonl")][-1] == "v-after"
    finally:
        hub.close()


def test_tail_events_reads_only_whole_lines_of_the_window(tmp_path):
    from edge.rules import JsonlSink, tail_events

    sink = JsonlSink(tmp_path / "l.jsonl")
    for i in range(1000):
        sink.write({"id": f"v{i:04d}", "stage": "alert"})
    sink.close()
    tail = tail_events(tmp_path / "l.jsonl", max_bytes=4096)
    assert tail and tail[-1]["id"] == "v0999" and 4096 // 40 <= len(tail) < 1000
    assert [int(e["id"][1:]) for e in tail] == list(range(1000 - len(tail), 1000))
    assert tail_events(tmp_path / "missing.jsonl") == []


def test_a_broker_back_from_an_outage_is_not_left_waiting_for_the_grown_back_off(tmp_path, caplog):
    """Refusals while the broker is away grow the delay; once it accepts a connection they stop
    counting, so a second crash right after finds the node retrying at its initial delay again."""
    import logging
    import re

    broker = Broker(tmp_path / "broker")
    path = Path(write_profile(tmp_path, broker))
    path.write_text(path.read_text().replace("max_s = 0.5", "max_s = 30"))

    def retries() -> list[float]:
        return [float(m.group(1)) for r in caplog.records if (m := re.search(r"retrying in ([\d.]+) s", r.message))]

    caplog.set_level(logging.WARNING, logger="edge.link")
    link = NodeLink(load_profile(str(path)), tmp_path / "state", "test").start()
    try:
        deadline = time.monotonic() + 30
        while (not retries() or max(retries()) < 0.8) and time.monotonic() < deadline:
            time.sleep(0.1)  # the broker is away: the back-off grows (0.1, 0.2, 0.4, 0.8 s...)
        assert retries() and max(retries()) >= 0.8, retries()
        broker.start()
        assert link.mqtt.connected.wait(30)
        before = len(retries())
        broker.stop()  # it dies again at once
        deadline = time.monotonic() + 10
        while len(retries()) == before and time.monotonic() < deadline:
            time.sleep(0.05)
        delays = retries()[before:]
        assert delays and delays[0] <= 0.1, f"retrying after {delays} s, not the initial 0.1 s"
    finally:
        link.stop()
        broker.stop()
