"""Evidence upload: node -> mosquitto -> edge-hub receive, with restarts, damage and tampering."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from edge.config import load_profile
from edge.crypto import generate_keypair
from edge.evidence import EvidenceStore
from edge.evidence.manifest import file_entry
from edge.link import NodeLink

from .broker import Broker
from .conftest import BIN, REPO

PROFILE = """
[node]
id = "up-node"
kind = "camera"

[capture]
source = "usb:0"

[link]
host = "127.0.0.1"
port = {port}
keepalive_s = 5
reconnect = {{ initial_s = 0.1, max_s = 0.5 }}

[upload]
segment_bytes = 65536
response_timeout_s = 5
{upload}
"""


class Rig:
    """A broker, `edge-hub receive`, and an in-process node link that uploads sealed bundles."""

    def __init__(self, tmp: Path, upload: str = ""):
        self.tmp = tmp
        self.broker = Broker(tmp / "broker").start()
        self.state = tmp / "state"
        self.hub_dir = tmp / "hub"
        generate_keypair(tmp / "hub.key", self.state / "keys" / "hub.pub")
        self.node_key = generate_keypair(self.state / "keys" / "node.key", self.state / "keys" / "node.pub")
        (self.hub_dir / "node-keys").mkdir(parents=True)
        shutil.copy(self.state / "keys" / "node.pub", self.hub_dir / "node-keys" / "up-node.pub")
        self.store = EvidenceStore(self.state)
        (tmp / "node.toml").write_text(PROFILE.format(port=self.broker.port, upload=upload))
        self.profile = load_profile(tmp / "node.toml")
        self.acks: list[dict] = []
        self.receiver: subprocess.Popen | None = None
        self.link: NodeLink | None = None

    def start_receiver(self) -> None:
        log = self.tmp / "receive.log"
        before = log.read_text().count("receiving evidence on") if log.exists() else 0
        self.receiver = subprocess.Popen(
            [str(BIN / "edge-hub"), "receive", "--broker", self.broker.address, "--dir", str(self.hub_dir),
             "--key", str(self.tmp / "hub.key")], cwd=REPO, stdout=subprocess.DEVNULL,
            stderr=open(log, "a"))  # noqa: SIM115 (the child process keeps it)
        # it says so once it is subscribed: what a node sends before that would go to nobody
        assert wait(lambda: log.read_text().count("receiving evidence on") > before, 30), log.read_text()

    def stop_receiver(self) -> None:
        if self.receiver is not None:
            self.receiver.terminate()
            self.receiver.wait(10)

    def start_node(self) -> NodeLink:
        self.link = NodeLink(self.profile, self.state, "test")

        def on_ack(command, reply):
            self.acks.append(command.args)
            if command.args.get("verified"):
                self.store.mark_acked(command.args["bundle"])
            reply(True, None, None)
        self.link.router.register("evidence_ack", on_ack)
        self.link.start()
        self._stop = threading.Event()
        self._runner = threading.Thread(target=self._run, daemon=True)
        self._runner.start()
        return self.link

    def _run(self) -> None:
        while not self._stop.is_set():
            self.link.run_commands()
            time.sleep(0.01)

    def stop_node(self) -> None:
        self._stop.set()
        self._runner.join(5)
        self.link.stop()

    def bundle(self, name: str, sizes: dict[str, int]) -> Path:
        folder = self.store.open(name, {"node": "up-node", "rule": "r"})
        files = []
        for file, size in sizes.items():
            (folder / file).write_bytes(os.urandom(size))
            files.append(file_entry(folder, file, "clip" if file.endswith(".mp4") else "snapshot"))
        digest = self.store.seal(name, {"node": "up-node"}, files, self.node_key)
        self.link.queue_bundle(folder, digest)
        return folder

    def verified(self) -> set[str]:
        return {a["bundle"] for a in self.acks if a.get("verified")}

    def close(self) -> None:
        if self.link is not None and not self._stop.is_set():
            self.stop_node()
        self.stop_receiver()
        self.broker.stop()
        self.store.close()


@pytest.fixture
def rig(tmp_path):
    rig = Rig(tmp_path)
    yield rig
    rig.close()


def wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def same_files(node_folder: Path, hub_folder: Path) -> bool:
    return sorted(p.name for p in node_folder.iterdir()) == sorted(p.name for p in hub_folder.iterdir()) and all(
        hashlib.sha256((node_folder / p.name).read_bytes()).digest() == hashlib.sha256(p.read_bytes()).digest()
        for p in hub_folder.iterdir())


def test_bundles_reach_the_hub_verified_and_the_node_learns_it(rig):
    rig.start_receiver()
    rig.start_node()
    folders = [rig.bundle(f"b{i}", {"snapshot_best.jpg": 50_000, "clip.mp4": 300_000}) for i in range(3)]
    assert wait(lambda: rig.verified() == {"b0", "b1", "b2"}, 60), rig.acks
    for folder in folders:
        assert same_files(folder, rig.hub_dir / "bundles" / "up-node" / folder.name)
    assert all(r.acked for r in rig.store.rows())
    assert rig.link.upload_store.counts()["files_pending"] == 0


def test_every_segment_the_hub_confirms_is_counted_also_those_answered_after_fin(rig):
    """fin goes straight behind a file's last segment and the next file starts before the answers to the
    last window of segments come: those answers still count as confirmed evidence (the uplink's
    goodput) and are kept as progress, or a fast link looked ~10 % slower than it was."""
    rig.start_receiver()
    rig.start_node()
    folders = [rig.bundle(f"c{i}", {"snapshot_best.jpg": 40_000, "clip.mp4": 500_000}) for i in range(3)]
    assert wait(lambda: rig.verified() == {"c0", "c1", "c2"}, 60), rig.acks
    sent_whole = sum(p.stat().st_size for folder in folders for p in folder.iterdir())
    up = rig.link.uploader
    assert up.files_done == 12 and up.bytes_sent == sent_whole  # each file once, nothing sent again
    assert up.bytes_confirmed == sent_whole
    assert not up._trailing  # every answer awaited came


def test_a_node_restarted_before_fins_answer_does_not_send_what_the_hub_confirmed(rig):
    """A hub that answers every segment but has not yet answered fin (busy, or the node stops first):
    after a restart the node sends each file's init and fin again, and no segment the hub confirmed,
    also none of those answered after fin went out."""
    import paho.mqtt.client as mqtt

    segments: list[str] = []  # topics of segments the hub got
    subscribed = threading.Event()

    def on_message(client, userdata, m):
        parts = m.topic.split("/")
        if parts[2] == "init":
            userdata[parts[1]] = json.loads(m.payload)["user_data"]["client_id"]
        elif parts[2] == "fin":
            return  # never answered
        else:
            segments.append(m.topic)
        answer = {"vsn": "0.1", "topic": m.topic, "packet_id": 0, "reason_code": 0, "reason_description": "ok"}
        client.publish(f"$file-response/{userdata[parts[1]]}", json.dumps(answer), qos=1)

    hub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="slow-hub", userdata={})
    hub.on_message = on_message
    hub.on_connect = lambda c, u, f, rc, p: c.subscribe("$file-async/#", qos=1)
    hub.on_subscribe = lambda *a: subscribed.set()
    hub.connect("127.0.0.1", rig.broker.port)
    hub.loop_start()
    try:
        assert subscribed.wait(10)
        rig.start_node()
        folder = rig.bundle("s1", {"snapshot_best.jpg": 40_000, "clip.mp4": 500_000})
        whole = sum(p.stat().st_size for p in folder.iterdir())
        assert wait(lambda: rig.link.uploader.bytes_confirmed == whole, 30), rig.link.uploader.bytes_confirmed
        rig.stop_node()
        before = len(segments)
        rig.start_node()
        rig.link.queue_bundle(folder, rig.store.rows()[0].manifest_sha256)
        assert wait(lambda: rig.link.upload_store.counts()["files_pending"] == 0, 30)  # all finishing again
        time.sleep(0.5)
        assert segments[before:] == [] and rig.link.uploader.bytes_sent == 0
    finally:
        hub.loop_stop()
        hub.disconnect()


def test_a_broker_restart_mid_transfer_loses_nothing(tmp_path):
    rig = Rig(tmp_path, upload="max_bytes_per_s = 400000")  # slow enough to be cut in the middle
    try:
        rig.start_receiver()
        rig.start_node()
        folder = rig.bundle("big", {"snapshot_best.jpg": 100_000, "clip.mp4": 2_000_000})
        assert wait(lambda: rig.link.uploader.bytes_sent > 700_000, 30)
        rig.broker.restart()
        assert wait(lambda: rig.verified() == {"big"}, 90), rig.acks
        assert same_files(folder, rig.hub_dir / "bundles" / "up-node" / "big")
    finally:
        rig.close()


def test_a_hub_that_lost_its_work_folder_mid_transfer_still_gets_the_bundle(tmp_path):
    """Restored from a backup without receiving/: the segments the node sends next belong to a transfer
    the hub never heard of, and nobody answers them.  The node starts the file again with init."""
    rig = Rig(tmp_path, upload="max_bytes_per_s = 400000")
    try:
        rig.start_receiver()
        rig.start_node()
        folder = rig.bundle("lost", {"clip.mp4": 2_000_000})
        assert wait(lambda: rig.link.uploader.bytes_sent > 700_000, 30)
        rig.stop_receiver()
        shutil.rmtree(rig.hub_dir / "receiving")
        rig.start_receiver()
        assert wait(lambda: rig.verified() == {"lost"}, 90), rig.acks
        assert same_files(folder, rig.hub_dir / "bundles" / "up-node" / "lost")
        assert "never initialised" in (rig.tmp / "receive.log").read_text()
    finally:
        rig.close()


def test_a_segment_damaged_on_the_way_is_noticed_and_sent_again(rig):
    rig.start_receiver()
    link = rig.start_node()
    original = link.uploader._publish
    damaged = []

    def flaky(topic: str, payload: bytes) -> bool:
        if "/fin/" not in topic and topic.count("/") == 3 and payload and not damaged:
            damaged.append(topic)
            payload = bytes([payload[0] ^ 0xFF]) + payload[1:]  # one bit flipped in transit
        return original(topic, payload)
    link.uploader._publish = flaky
    folder = rig.bundle("d1", {"clip.mp4": 200_000})
    assert wait(lambda: rig.verified() == {"d1"}, 60), rig.acks
    assert damaged and same_files(folder, rig.hub_dir / "bundles" / "up-node" / "d1")
    assert "damaged on the way" in (rig.tmp / "receive.log").read_text()


def test_a_tampered_bundle_is_rejected_by_the_hub_and_kept_by_the_node(rig):
    rig.start_receiver()
    link = rig.start_node()
    folder = rig.store.open("t1", {"node": "up-node"})
    (folder / "clip.mp4").write_bytes(os.urandom(100_000))
    digest = rig.store.seal("t1", {"node": "up-node"}, [file_entry(folder, "clip.mp4", "clip")], rig.node_key)
    clip = bytearray((folder / "clip.mp4").read_bytes())
    clip[5000] ^= 0x01  # altered on the node's disk after it was sealed
    (folder / "clip.mp4").write_bytes(bytes(clip))
    link.queue_bundle(folder, digest)
    assert wait(lambda: any(a["bundle"] == "t1" for a in rig.acks), 60)
    (ack,) = [a for a in rig.acks if a["bundle"] == "t1"]
    assert ack["verified"] is False and "clip.mp4" in ack["reason"]
    assert not rig.store.get("t1").acked and folder.exists()
    assert list((rig.hub_dir / "rejected" / "up-node").iterdir())
    assert not (rig.hub_dir / "bundles" / "up-node" / "t1").exists()


def test_uploads_resume_after_the_node_restarts(rig):
    rig.start_node()  # no receiver yet: nothing is confirmed
    rig.bundle("r1", {"clip.mp4": 150_000})
    time.sleep(2)
    rig.stop_node()
    rig.start_receiver()
    rig.start_node()
    for row in rig.store.rows():
        rig.link.queue_bundle(rig.store.folder(row.id), row.manifest_sha256)
    assert wait(lambda: rig.verified() == {"r1"}, 60), rig.acks


def test_manifest_and_snapshots_go_before_clips(rig):
    from edge.link.upload import UploadStore

    store = UploadStore(rig.tmp / "order.db")
    a = rig.store.open("o1", {"node": "up-node"})
    for name, size in (("clip.mp4", 10), ("snapshot_best.jpg", 10)):
        (a / name).write_bytes(b"x" * size)
    digest = rig.store.seal("o1", {"node": "up-node"}, [file_entry(a, "clip.mp4", "clip"),
                                                        file_entry(a, "snapshot_best.jpg", "snapshot")], rig.node_key)
    store.add_bundle("o1", a, digest, 1)
    order = []
    while (job := store.next_file()) is not None:
        order.append(job.name)
        store.file_stored(job.file_id)
    assert order[:2] == ["manifest.json", "manifest.sig"] and order[2:] == ["snapshot_best.jpg", "clip.mp4"]
    store.close()
    json.dumps(order)


def test_a_vanished_file_leaves_the_queue_once_and_the_bundle_says_which(rig, caplog):
    """A clip deleted from the node's disk after its bundle was queued (a failing card, a hand with rm):
    the uploader used to publish `init` for it thousands of times a second.  Now the file leaves the
    queue with one warning, its bundle's state names it, the rest of the bundle and the next bundle go."""
    import logging

    rig.start_receiver()
    link = rig.start_node()
    link.uploader.stop()  # hold the uploader while the file vanishes
    folder = rig.bundle("v1", {"snapshot_best.jpg": 20_000, "clip.mp4": 200_000})
    (folder / "clip.mp4").unlink()
    from edge.link.upload import Uploader

    up = link.uploader = Uploader(link.mqtt, link.upload_store, node="up-node", segment_bytes=65536,
                                  response_timeout_s=5)
    with caplog.at_level(logging.WARNING, logger="edge.link.upload"):
        up.start()
        store = link.upload_store
        assert wait(lambda: store.counts()["files_pending"] == 0 and up.files_missing == 1, 30), store.counts()
        published = up.publishes
        time.sleep(3)  # the spin published about 5,000 times a second here
        assert up.publishes == published
    assert up.publishes <= 12  # init + segments + fin of manifest.json, manifest.sig and the snapshot
    warnings = [r for r in caplog.records if "clip.mp4" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert store.bundle_state("v1") == "incomplete"
    assert "clip.mp4" in store.bundle_reason("v1") and "snapshot" not in store.bundle_reason("v1")
    assert store.counts()["files_missing"] == 1
    hub = rig.hub_dir / "bundles" / "up-node" / "v1"
    assert (hub / "snapshot_best.jpg").exists() and not (hub / "clip.mp4").exists()
    rig.bundle("v2", {"clip.mp4": 100_000})  # the uploader goes on with the next bundle
    assert wait(lambda: "v2" in rig.verified(), 60), rig.acks
    assert "v1" not in rig.verified()
