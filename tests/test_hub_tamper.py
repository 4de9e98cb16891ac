"""Verified evidence is immutable at the hub: replacing a file, another manifest, a genuine bundle
under another id, another node's credentials: each refused with its reason in the $file-response,
logged as a tamper attempt and counted; an identical second upload is a success that changes nothing."""

from __future__ import annotations

import hashlib
import json
import os
import queue
import subprocess

import apsw
import paho.mqtt.client as mqtt

from .broker import Broker
from .conftest import BIN
from .test_upload import Rig, wait

REFUSED = 0x87


class Uploader:
    """A client that speaks the file-transfer protocol by hand, as an attacker would."""

    def __init__(self, broker_port: int, client_id: str, username: str | None = None, password: str | None = None):
        self.client_id = client_id
        self.responses: queue.Queue = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if username:
            self.client.username_pw_set(username, password)
        subscribed = queue.Queue()
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"$file-response/{client_id}", qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: subscribed.put(rcs)
        self.client.on_message = lambda c, u, m: self.responses.put(json.loads(m.payload))
        self.client.connect("127.0.0.1", broker_port)
        self.client.loop_start()
        assert not subscribed.get(timeout=10)[0].is_failure

    def upload(self, file_id: str, node: str, bundle: str, name: str, data: bytes, *, checksum: bool = True) -> dict:
        """init, one segment, fin; returns the first answer that is not a success, else fin's."""
        sha = hashlib.sha256(data).hexdigest()
        init = {"name": name, "size": len(data), "user_data": {"node": node, "client_id": self.client_id,
                                                               "bundle": bundle}}
        if checksum:
            init["checksum"] = sha
        base = f"$file-async/{file_id}"
        topics = [f"{base}/init", f"{base}/0/{sha}", f"{base}/fin/{len(data)}/{sha}"]
        self.client.publish(topics[0], json.dumps(init), qos=1).wait_for_publish(5)
        self.client.publish(topics[1], data, qos=1).wait_for_publish(5)
        self.client.publish(topics[2], b"", qos=1).wait_for_publish(5)
        while True:
            answer = self.responses.get(timeout=20)
            if answer["reason_code"] != 0 or answer["topic"] == topics[2]:
                return answer

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def tamper_count(rig: Rig) -> int:
    db = apsw.Connection(str(rig.hub_dir / "receive.db"))
    try:
        return db.execute("SELECT count(*) FROM tamper").fetchone()[0]
    finally:
        db.close()


def verified_bundle(rig: Rig) -> tuple:
    rig.start_receiver()
    rig.start_node()
    folder = rig.bundle("b1", {"clip.mp4": 120_000, "snapshot_best.jpg": 5_000})
    assert wait(lambda: rig.verified() == {"b1"}, 60), rig.acks
    hub_folder = rig.hub_dir / "bundles" / "up-node" / "b1"
    return folder, hub_folder


def digests(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def hub_state(rig: Rig, bundle: str) -> str | None:
    db = apsw.Connection(str(rig.hub_dir / "receive.db"))
    try:
        row = db.execute("SELECT state FROM bundles WHERE bundle = ?", (bundle,)).fetchone()
        return row[0] if row else None
    finally:
        db.close()


def test_a_verified_bundle_cannot_be_changed(tmp_path):
    rig = Rig(tmp_path)
    evil = None
    try:
        folder, hub_folder = verified_bundle(rig)
        before = digests(hub_folder)
        evil = Uploader(rig.broker.port, "evil")
        # 1. another clip, announced with its checksum: refused at init
        answer = evil.upload("x1", "up-node", "b1", "clip.mp4", os.urandom(50_000))
        assert answer["reason_code"] == REFUSED and "cannot be replaced" in answer["reason_description"]
        # 2. the same without a checksum at init: refused at fin, once the data is known
        answer = evil.upload("x2", "up-node", "b1", "clip.mp4", os.urandom(50_000), checksum=False)
        assert answer["reason_code"] == REFUSED and "cannot be replaced" in answer["reason_description"]
        # 3. another manifest for the verified bundle: refused, the bundle is not moved to rejected/
        answer = evil.upload("x3", "up-node", "b1", "manifest.json", b'{"bundle": "b1", "files": []}')
        assert answer["reason_code"] == REFUSED
        # 4. a file the verified bundle does not have
        answer = evil.upload("x4", "up-node", "b1", "extra.jpg", b"jpeg")
        assert answer["reason_code"] == REFUSED and "has no file" in answer["reason_description"]
        # an identical second upload: success, nothing changes
        same = (folder / "clip.mp4").read_bytes()
        answer = evil.upload("x5", "up-node", "b1", "clip.mp4", same)
        assert answer["reason_code"] == 0 and "unchanged" in answer["reason_description"]
        assert digests(hub_folder) == before and hub_state(rig, "b1") == "verified"
        assert not (rig.hub_dir / "rejected").exists()
        assert tamper_count(rig) == 4
        log = (rig.tmp / "receive.log").read_text()
        assert log.count("TAMPER ATTEMPT") == 4
    finally:
        if evil is not None:
            evil.close()
        rig.close()


def test_a_genuine_bundle_under_another_id_is_not_verified(tmp_path):
    rig = Rig(tmp_path)
    evil = None
    try:
        folder, _ = verified_bundle(rig)
        evil = Uploader(rig.broker.port, "evil")
        for i, path in enumerate(sorted(folder.iterdir())):  # the signed files of b1, uploaded as b2
            answer = evil.upload(f"y{i}", "up-node", "b2", path.name, path.read_bytes())
            assert answer["reason_code"] == 0
        assert wait(lambda: hub_state(rig, "b2") == "rejected", 20)
        assert not (rig.hub_dir / "bundles" / "up-node" / "b2").exists()
        db = apsw.Connection(str(rig.hub_dir / "receive.db"))
        reason = db.execute("SELECT reason FROM bundles WHERE bundle = 'b2'").fetchone()[0]
        db.close()
        assert "manifest names bundle 'b1'" in reason
        assert hub_state(rig, "b1") == "verified"
    finally:
        if evil is not None:
            evil.close()
        rig.close()


ACL = """
user hub
topic readwrite #
topic readwrite $file-async/#
topic readwrite $file-response/#

pattern write $file-async/#
pattern read $file-response/%c
pattern readwrite edge/%u/#
"""


def test_another_nodes_credentials_cannot_replace_a_verified_file(tmp_path):
    """A real broker with passwords and an ACL: node `other` may upload (its own evidence), and
    tries to replace a clip of up-node's verified bundle.  The hub refuses and counts it."""
    rig = Rig(tmp_path)
    evil = None
    try:
        _, hub_folder = verified_bundle(rig)
        before = digests(hub_folder)
        rig.stop_node()
        rig.stop_receiver()
        rig.broker.stop()
        secured = Broker(tmp_path / "broker-acl", users={"hub": "hub-pw", "other": "other-pw"}, acl=ACL).start()
        rig.broker = secured  # the receiver connects here, with the hub's credentials
        os.environ["TEST_HUB_PW"] = "hub-pw"
        rig.receiver = subprocess.Popen(
            [str(BIN / "edge-hub"), "receive", "--broker",
             secured.address, "--dir", str(rig.hub_dir), "--key", str(tmp_path / "hub.key"), "--username", "hub",
             "--password-env", "TEST_HUB_PW"], stdout=open(os.devnull, "w"),  # noqa: SIM115
            stderr=open(tmp_path / "receive.log", "a"))  # noqa: SIM115
        assert wait(lambda: (tmp_path / "receive.log").read_text().count("receiving evidence on") >= 2, 30)
        evil = Uploader(secured.port, "other", "other", "other-pw")
        answer = evil.upload("z1", "up-node", "b1", "clip.mp4", os.urandom(40_000))
        assert answer["reason_code"] == REFUSED
        assert digests(hub_folder) == before and tamper_count(rig) == 1
        (row,) = apsw.Connection(str(rig.hub_dir / "receive.db")).execute(
            "SELECT client_id, reason FROM tamper").fetchall()
        assert row[0] == "other" and "cannot be replaced" in row[1]
    finally:
        os.environ.pop("TEST_HUB_PW", None)
        if evil is not None:
            evil.close()
        rig.close()
