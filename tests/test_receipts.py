"""End-to-end receipts: a broker killed with SIGKILL loses what it had acknowledged, the hub's
receipts make the node send it again; `edge-hub listen` stores each message once and reconnects."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time

import pytest

from edge.config import load_profile
from edge.hub.receipts import ReceiptBatcher
from edge.hub.store import AlertStore
from edge.link import NodeLink

from .broker import Broker
from .conftest import BIN, REPO
from .receipt_hub import ReceiptingHub
from .schemas import assert_valid as validate
from .test_link import alerts, write_profile

FAST_RECEIPTS = "receipt_timeout_s = 2\nreceipt_max_s = 4"


def wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_receipts_are_batched_per_node_and_valid(tmp_path):
    sent: list[tuple[str, bytes]] = []
    now = [0.0]
    batcher = ReceiptBatcher(lambda t, p: sent.append((t, p)), "edge", max_delay_s=0.2, max_items=3,
                             clock=lambda: now[0])
    batcher.stored("a", "v1", "warning")
    batcher.stored("a", "v1", "warning")  # a redelivery is one item
    batcher.stored("b", "v2", "alert")
    batcher.stored("b", "v2", "bogus")  # not a lifecycle stage: never receipted
    assert batcher.flush() == 0 and sent == [], "not due yet"
    now[0] = 0.3
    assert batcher.flush() == 2
    by_topic = {t: json.loads(p) for t, p in sent}
    assert by_topic["edge/a/receipt"]["items"] == [{"id": "v1", "stage": "warning"}]
    assert by_topic["edge/b/receipt"]["node"] == "b"
    for body in by_topic.values():
        validate("receipt", body)
    for i in range(3):
        batcher.stored("a", f"x{i}", "cleared")  # a full batch leaves at once
    assert len(sent) == 3 and len(json.loads(sent[-1][1])["items"]) == 3


@pytest.mark.parametrize("persistence", [False, True], ids=["no-persistence", "autosave-1s"])
def test_a_broker_killed_9_loses_nothing_end_to_end(tmp_path, persistence):
    """Without persistence (the worst case) everything the broker acknowledged and had not delivered
    dies with it; with persistence (autosave every second, as a hub's broker should run) the last
    second does.  The node keeps each message until the hub's receipt, so all arrive either way."""
    broker = Broker(tmp_path / "broker", persistence=persistence).start()
    db = tmp_path / "hub.db"
    listener = subprocess.Popen([str(BIN / "edge-hub"), "listen", "--broker", broker.address, "--db", str(db),
                                 "--duration", "120"], cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
    link = NodeLink(load_profile(write_profile(tmp_path, broker, extra=FAST_RECEIPTS)), tmp_path / "state",
                    "test").start()
    total = 150
    try:
        assert wait(lambda: link.mqtt.connected.is_set(), 10)
        time.sleep(1.0)  # the listener subscribes

        def produce():
            for i in range(total):
                for stage in ("warning", "alert"):
                    link.publish_alert({"id": f"v{i:04d}", "node": "n1", "stage": stage, "n": i})
                time.sleep(0.01)

        producer = threading.Thread(target=produce)
        producer.start()
        time.sleep(0.6)
        broker.stop(signal.SIGKILL)  # mid-stream, with messages acknowledged and not yet delivered
        time.sleep(1.0)
        broker.start()
        producer.join(60)
        assert wait(lambda: link.outbox.depth() == 0, 60), \
            f"{link.outbox.depth()} left, {link.outbox.awaiting()} awaiting a receipt"
        assert link.outbox.receipted == 2 * total
    finally:
        link.stop()
        listener.send_signal(signal.SIGTERM)
        _, err = listener.communicate(timeout=20)
        broker.stop()
    store = AlertStore(db)
    try:
        assert store.count() == 2 * total, err[-2000:]
        stored = store.messages()
    finally:
        store.close()
    assert len({(m["id"], m["stage"]) for m in stored}) == 2 * total, "each (id, stage) once"
    # per violation, the warning was stored before its alert
    first: dict[str, str] = {}
    for m in stored:
        first.setdefault(m["id"], m["stage"])
    assert set(first.values()) == {"warning"}


def test_without_receipts_a_message_is_sent_again_until_one_comes(tmp_path):
    broker = Broker(tmp_path / "broker").start()
    hub = ReceiptingHub(broker).wait_ready()
    hub.receipting = False  # the hub is down: the broker takes the messages, nobody receipts them
    link = NodeLink(load_profile(write_profile(tmp_path, broker, extra=FAST_RECEIPTS)), tmp_path / "state",
                    "test").start()
    try:
        for i in range(5):
            link.publish_alert({"id": f"v{i}", "node": "n1", "stage": "alert", "n": i})
        assert wait(lambda: link.outbox.awaiting() == 5, 10), "acknowledged by the broker, kept"
        assert wait(lambda: link.outbox.resent >= 5, 15), "sent again when no receipt came"
        status = link.mqtt._status_payload("online")
        assert json.loads(status)["outbox_awaiting_receipt"] == 5
        hub.receipting = True  # the hub is back
        assert wait(lambda: link.outbox.depth() == 0, 30)
        assert {a["id"] for a in alerts(hub.messages)} == {f"v{i}" for i in range(5)}
    finally:
        link.stop()
        hub.close()
        broker.stop()


def test_listen_reconnects_within_seconds_after_a_broker_kill_9(tmp_path):
    broker = Broker(tmp_path / "broker", persistence=False).start()
    db = tmp_path / "hub.db"
    listener = subprocess.Popen([str(BIN / "edge-hub"), "listen", "--broker", broker.address, "--db", str(db),
                                 "--duration", "60"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    link = NodeLink(load_profile(write_profile(tmp_path, broker, extra=FAST_RECEIPTS)), tmp_path / "state",
                    "test").start()
    try:
        time.sleep(1.5)
        link.publish_alert({"id": "before", "node": "n1", "stage": "alert"})
        assert wait(lambda: link.outbox.depth() == 0, 15)
        for _ in range(2):  # twice: paho's delay would have doubled
            broker.stop(signal.SIGKILL)
            time.sleep(3.0)
            broker.start()
        link.publish_alert({"id": "after", "node": "n1", "stage": "alert"})
        # the node's few seconds of back-off plus a receipt timeout or two, far from paho's 120 s
        assert wait(lambda: link.outbox.depth() == 0, 25), "the listener is not back"
    finally:
        link.stop()
        listener.send_signal(signal.SIGTERM)
        listener.communicate(timeout=20)
        broker.stop()
    store = AlertStore(db)
    assert {m["id"] for m in store.messages()} == {"before", "after"}
    store.close()


def test_listen_started_before_its_broker_waits_for_it(tmp_path):
    broker = Broker(tmp_path / "broker")  # not started yet: the hub comes up first
    db = tmp_path / "hub.db"
    listener = subprocess.Popen([str(BIN / "edge-hub"), "listen", "--broker", broker.address, "--db", str(db),
                                 "--count", "1", "--duration", "60"], cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    try:
        assert "retrying in" in listener.stderr.readline()
        assert listener.poll() is None, "still waiting, not ended"
        broker.start()
        lines = [listener.stderr.readline() for _ in range(1)]
        while "listening on" not in lines[-1] and len(lines) < 20 and lines[-1]:
            lines.append(listener.stderr.readline())  # retries meanwhile, on its own back-off (<= 5 s)
        assert "listening on" in lines[-1], lines
        link = NodeLink(load_profile(write_profile(tmp_path, broker, extra=FAST_RECEIPTS)), tmp_path / "state",
                        "test").start()
        try:
            link.publish_alert({"id": "v", "node": "n1", "stage": "alert"})
            assert wait(lambda: link.outbox.depth() == 0, 20)
        finally:
            link.stop()
        assert listener.wait(20) == 0
    finally:
        listener.kill()
        broker.stop()


def test_a_hub_that_starts_makes_the_nodes_resend_at_once_not_after_their_back_off(tmp_path):
    """The receipt back-off here is 10 minutes: only the hub's start announcement can bring the
    messages the away hub never stored to `edge-hub listen` within the test."""
    broker = Broker(tmp_path / "broker").start()
    away = ReceiptingHub(broker).wait_ready()
    away.receipting = False  # the broker takes the messages for this subscriber; nobody stores them
    slow = "receipt_timeout_s = 600\nreceipt_max_s = 600"
    link = NodeLink(load_profile(write_profile(tmp_path, broker, extra=slow)), tmp_path / "state", "test").start()
    db = tmp_path / "hub.db"
    listener = None
    try:
        for i in range(3):
            link.publish_alert({"id": f"v{i}", "node": "n1", "stage": "alert"})
        assert wait(lambda: link.outbox.awaiting() == 3, 10), "acknowledged by the broker, kept"
        listener = subprocess.Popen([str(BIN / "edge-hub"), "listen", "--broker", broker.address, "--db", str(db),
                                     "--duration", "60"], cwd=REPO, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
        assert wait(lambda: link.outbox.depth() == 0, 30), "the hub's start did not bring the messages again"
        assert link.outbox.resent >= 3
    finally:
        link.stop()
        away.close()
        if listener is not None:
            listener.send_signal(signal.SIGTERM)
            listener.communicate(timeout=20)
        broker.stop()
    store = AlertStore(db)
    assert {m["id"] for m in store.messages()} == {"v0", "v1", "v2"}
    store.close()
