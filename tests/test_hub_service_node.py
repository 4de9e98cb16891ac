"""The hub and a real node link (edge.link.NodeLink, the node's own MQTT, command verification and
evidence upload): each command type round-trips to its cmd_result, and evidence the node uploads
is verified and served with HTTP Range and its verification result."""

from __future__ import annotations

import os
import shutil
import threading
import time

import numpy as np
import pytest

from edge.config import load_profile
from edge.crypto import generate_keypair
from edge.evidence import EvidenceStore
from edge.evidence.manifest import file_entry
from edge.link import NodeLink

from .hub_rig import Publisher, hub_any, lifecycle  # noqa: F401


@pytest.fixture
def hub(hub_any):  # noqa: F811
    """Each test here runs on SQLite and on PostgreSQL."""
    return hub_any

PROFILE = """
[node]
id = "n1"
kind = "camera"

[capture]
source = "usb:0"

[link]
host = "127.0.0.1"
port = {port}
prefix = "{prefix}"
client_id = "{prefix}-n1"
keepalive_s = 5
reconnect = {{ initial_s = 0.1, max_s = 0.5 }}

[upload]
segment_bytes = 65536
response_timeout_s = 5
"""


class Node:
    """The node side: NodeLink with the hub's public key, handlers that answer like a camera node."""

    def __init__(self, tmp, hub, broker):  # noqa: F811
        self.state = tmp / "node"
        (self.state / "keys").mkdir(parents=True)
        shutil.copy(hub.folder / "hub.pub", self.state / "keys" / "hub.pub")
        self.key = generate_keypair(self.state / "keys" / "node.key", self.state / "keys" / "node.pub")
        keys = hub.folder / "evidence" / "node-keys"
        keys.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.state / "keys" / "node.pub", keys / "n1.pub")
        (tmp / "n1.toml").write_text(PROFILE.format(port=broker.port, prefix=hub.prefix))
        self.store = EvidenceStore(self.state)
        self.link = NodeLink(load_profile(tmp / "n1.toml"), self.state, "test")
        self.ran: list[tuple[str, dict]] = []
        self.zones = {"shore": True}
        self.picture = np.zeros((480, 640, 3), np.uint8)
        self.picture[100:300, 200:400] = (0, 0, 255)  # a red square: what the camera sees
        r = self.link.router
        r.register("speak", lambda c, reply: self._ran(c, reply, {"played": True}))
        r.register("snapshot", self._snapshot)
        r.register("zone", self._zone)
        r.register("config", lambda c, reply: self._ran(c, reply, {"applied": ["zones", "rules", "track"],
                                                                   "restart_required": []}))
        r.register("evidence_ack", lambda c, reply: self._ran(c, reply, None))
        self.link.start()
        assert self.link.mqtt.connected.wait(10)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _ran(self, command, reply, data):
        self.ran.append((command.name, command.args))
        reply(True, None, data)

    def _snapshot(self, command, reply):
        """As the node does (edge/node.py): the picture saved there, a small copy inline when asked."""
        from edge.contract.thumbnail import jpeg_b64

        data = {"file": "20260101T000000.jpg", "bytes": self.picture.nbytes, "size": [640, 480]}
        if command.args.get("thumbnail"):
            data["jpeg_b64"] = jpeg_b64(self.picture, command.args["thumbnail"])
        self._ran(command, reply, data)

    def _zone(self, command, reply):
        if command.args["zone"] not in self.zones:
            reply(False, f"unknown zone {command.args['zone']!r}", None)
            return
        self.zones[command.args["zone"]] = command.args["armed"]
        self._ran(command, reply, {"zone": command.args["zone"], "armed": command.args["armed"]})

    def _run(self):
        while not self._stop.is_set():
            self.link.run_commands()
            time.sleep(0.01)

    def bundle(self, name: str) -> tuple[str, dict[str, bytes]]:
        folder = self.store.open(name, {"node": "n1", "rule": "no_fishing"})
        content = {"clip.mp4": os.urandom(200_000), "before.jpg": os.urandom(20_000)}
        files = []
        for file, data in content.items():
            (folder / file).write_bytes(data)
            files.append(file_entry(folder, file, "clip" if file.endswith(".mp4") else "snapshot"))
        digest = self.store.seal(name, {"node": "n1"}, files, self.key)
        self.link.queue_bundle(folder, digest)
        return digest, content

    def close(self):
        self._stop.set()
        self._thread.join(5)
        self.link.stop()
        self.store.close()


@pytest.fixture
def node(tmp_path, hub, mosquitto):  # noqa: F811
    n = Node(tmp_path, hub, mosquitto)
    yield n
    n.close()


def _done(hub, client, cid):  # noqa: F811
    hub.wait(lambda: client.get(f"/api/commands/{cid}").json()["state"] != "sent", 15)
    return client.get(f"/api/commands/{cid}").json()


def test_each_command_type_round_trips_to_its_result(hub, node):  # noqa: F811
    disp = hub.client("dan", "dispatcher")
    assert hub.wait(lambda: disp.get("/api/nodes/n1").status_code == 200)  # its status said it is online
    assert disp.get("/api/nodes/n1").json()["state"] == "online"
    sent = {
        "speak": {"text": "这里是综合行政执法，请配合管理。", "volume": 0.8},
        "snapshot": {"thumbnail": 320},
        "zone": {"zone": "shore", "armed": False},
        "config": {"toml": "[node]\nid = \"n1\"\n"},
    }
    results = {}
    for name, args in sent.items():
        r = disp.post("/api/nodes/n1/commands", json={"name": name, "args": args})
        assert r.status_code == 200, r.text
        results[name] = _done(hub, disp, r.json()["id"])
    assert {n: (r["state"], r["ok"]) for n, r in results.items()} == {n: ("done", True) for n in sent}
    assert [n for n, _ in node.ran] == list(sent) and node.ran[0][1]["text"] == sent["speak"]["text"]
    assert node.zones == {"shore": False}
    n1 = disp.get("/api/nodes/n1").json()
    assert n1["snapshot"]["file"] == "20260101T000000.jpg" and n1["zones"]["shore"]["armed"] is False
    picture = disp.get("/api/nodes/n1/snapshot")
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/jpeg"
    import cv2

    image = cv2.imdecode(np.frombuffer(picture.content, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (240, 320, 3) and image[100, 150, 2] > 200 and image[10, 10, 2] < 50  # the red square
    assert "jpeg_b64" not in results["snapshot"]["data"]  # kept as a file, not in the database
    r = disp.post("/api/nodes/n1/commands", json={"name": "zone", "args": {"zone": "pier", "armed": True}})
    failed = _done(hub, disp, r.json()["id"])
    assert failed["state"] == "failed" and "unknown zone" in failed["error"]
    assert disp.post("/api/nodes/nobody/commands", json={"name": "snapshot"}).status_code == 404


def test_a_command_for_an_incident_is_on_its_audit_trail(hub, node):  # noqa: F811
    disp = hub.client("dan", "dispatcher")
    pub = Publisher(type("B", (), {"port": int(hub.config.broker.address.rpartition(":")[2])}), f"{hub.prefix}-p")
    pub.send(f"{hub.prefix}/n1/alert", lifecycle("v1", "alert"))
    assert hub.wait(lambda: disp.get("/api/incidents").json()["total"] == 1)
    inc = disp.get("/api/incidents").json()["items"][0]["id"]
    r = disp.post("/api/nodes/n1/commands", json={"name": "speak", "args": {"clip": "no_fishing"}, "incident": inc})
    assert _done(hub, disp, r.json()["id"])["ok"] is True
    audit = disp.get(f"/api/incidents/{inc}").json()["audit"]
    assert audit[-1]["actor"] == "user:dan" and "command speak" in audit[-1]["comment"]
    pub.close()


def test_evidence_is_verified_and_served_with_range(hub, node):  # noqa: F811
    viewer = hub.client("vera", "viewer")
    digest, content = node.bundle("b-0001")
    assert hub.wait(lambda: any(b["state"] == "verified" for b in viewer.get("/api/evidence").json()["items"]), 30)
    v = viewer.get("/api/evidence/n1/b-0001").json()
    assert v["verified"] is True and v["signature"]["ok"] is True and v["manifest_sha256"] == digest
    assert v["chain"]["sequence"] == 1 and {f["name"]: f["ok"] for f in v["files"]} == {"clip.mp4": True,
                                                                                       "before.jpg": True}
    whole = viewer.get("/api/evidence/n1/b-0001/files/clip.mp4")
    assert whole.status_code == 200 and whole.content == content["clip.mp4"]
    part = viewer.get("/api/evidence/n1/b-0001/files/clip.mp4", headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == content["clip.mp4"][1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(content['clip.mp4'])}"
    assert viewer.get("/api/evidence/n1/b-0001/files/..%2F..%2Fhub.key").status_code == 404
    assert hub.client().get("/api/evidence/n1/b-0001/files/clip.mp4").status_code == 401
    assert hub.wait(lambda: ("evidence_ack", ) in {(n,) for n, _ in node.ran}, 10)  # the receiver acked it
    # A file changed at the hub after verification is caught on the next look.
    path = hub.folder / "evidence" / "bundles" / "n1" / "b-0001" / "before.jpg"
    path.write_bytes(b"x" + path.read_bytes()[1:])
    v = viewer.get("/api/evidence/n1/b-0001").json()
    assert v["verified"] is False and {f["name"]: f["ok"] for f in v["files"]}["before.jpg"] is False
