"""Issue 21: signed model rollout with self-test and rollback; dataset capture, pull pack, export/import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.config import load_profile
from edge.crypto import generate_keypair, load_public_key
from edge.evidence.manifest import verify_bundle
from edge.hub.modelsign import rollout_args
from edge.pipeline import build_detection
from edge.rollout import RolloutError, sign_manifest, verify_manifest
from edge.rollout.manager import ModelManager
from tests.fieldloop_rig import DEFAULT, FileServer, broken_copy, renamed_copy, sim_frames

PROFILE = f"""
[node]
id = "fl-node"
kind = "camera"
site = "east bank"

[capture]
source = "usb:0"

[link]
enabled = false

[detect]
model = "{DEFAULT}"
threads = 1

[dataset]
enabled = true
max_bytes = {{max_bytes}}
event_frames = 2
quiet_per_hour = 3600

[rollout]
max_crashes = 2
"""


def _profile(tmp_path: Path, max_bytes: int = 50_000_000):
    path = tmp_path / "node.toml"
    path.write_text(PROFILE.format(max_bytes=max_bytes))
    return load_profile(path)


class Replies(list):
    def __call__(self, ok, error, result):
        self.append((ok, error, result))


@pytest.fixture(scope="module")
def frames():
    return sim_frames()


@pytest.fixture()
def hub(tmp_path):
    key = generate_keypair(tmp_path / "hub.key", tmp_path / "hub.pub")
    return key, load_public_key(tmp_path / "hub.pub")


def _roll(manager, folder: Path, server_root: Path, server, key) -> Replies:
    sign_manifest(folder, key)
    replies = Replies()
    manager.start_rollout(rollout_args(folder, f"{server.url}/{folder.relative_to(server_root)}/model.onnx"), replies)
    manager._job.join(120)
    manager.tick()
    return replies


def test_a_signed_manifest_verifies_and_a_changed_one_does_not(tmp_path, hub):
    key, pub = hub
    folder = renamed_copy(tmp_path / "m", "edge-default", "7")
    sig = sign_manifest(folder, key)
    text = (folder / "manifest.json").read_text()
    assert verify_manifest(text, sig, pub).version == "7"
    with pytest.raises(RolloutError, match="does not verify"):
        verify_manifest(text.replace('"7"', '"8"'), sig, pub)
    other = generate_keypair(tmp_path / "x.key", tmp_path / "x.pub")
    with pytest.raises(RolloutError, match="does not verify"):
        verify_manifest(text, sign_manifest(folder, other), pub)


def test_rollout_switches_keeps_the_previous_and_rolls_back_on_request(tmp_path, hub, frames):
    key, pub = hub
    profile = _profile(tmp_path)
    stage = build_detection(profile)
    manager = ModelManager(profile, tmp_path / "state", pub)
    manager.boot(stage)
    for f in frames:
        manager.observe(f)
    served = tmp_path / "served"
    new = renamed_copy(served / "v2", "edge-default", "2")
    server = FileServer(served)
    try:
        replies = _roll(manager, new, served, server, key)
    finally:
        server.close()
    ok, error, result = replies[0]
    assert ok, error
    assert result["switched"] and result["model"]["version"] == "2" and result["previous"]["version"] == "1"
    assert result["self_test"]["objects"] > 0 and result["self_test"]["agreed"] == result["self_test"]["objects"]
    assert stage.detector.model.manifest.version == "2"  # the running stage now uses it
    assert (Path(manager.state["current"]) / "manifest.sig").exists()
    back = manager.rollback()
    assert back["model"]["version"] == "1" and stage.detector.model.manifest.version == "1"
    with pytest.raises(RolloutError, match="no previous"):
        manager.rollback()


def test_a_broken_model_fails_its_self_test_and_never_runs(tmp_path, hub, frames):
    key, pub = hub
    profile = _profile(tmp_path)
    stage = build_detection(profile)
    manager = ModelManager(profile, tmp_path / "state", pub)
    manager.boot(stage)
    for f in frames:
        manager.observe(f)
    served = tmp_path / "served"
    bad = broken_copy(served / "bad")
    server = FileServer(served)
    try:
        replies = _roll(manager, bad, served, server, key)
        # A tampered ONNX: the signed hash catches it before any session is made.
        tampered = renamed_copy(served / "t", "edge-default", "3")
        sign_manifest(tampered, key)
        with open(tampered / "model.onnx", "ab") as f:
            f.write(b"x")
        replies2 = Replies()
        manager.start_rollout(rollout_args(tampered, f"{server.url}/t/model.onnx"), replies2)
        manager._job.join(60)
        manager.tick()
    finally:
        server.close()
    ok, error, result = replies[0]
    assert not ok and "self-test" in error and result["rolled_back"]
    assert stage.detector.model.manifest.version == "1"
    assert not replies2[0][0] and "sha256" in replies2[0][1]
    with pytest.raises(RolloutError, match="signature"):
        manager.start_rollout({"action": "rollout", "manifest": (bad / "manifest.json").read_text(),
                               "sig": (tampered / "manifest.sig").read_text(), "url": "http://x/m"}, Replies())


def test_crashes_after_a_switch_roll_back_at_start(tmp_path, hub, frames):
    key, pub = hub
    profile = _profile(tmp_path)
    state = tmp_path / "state"
    manager = ModelManager(profile, state, pub)
    manager.boot(build_detection(profile))
    for f in frames:
        manager.observe(f)
    served = tmp_path / "served"
    server = FileServer(served)
    try:
        assert _roll(manager, renamed_copy(served / "v2", "edge-default", "2"), served, server, key)[0][0]
    finally:
        server.close()
    # No close(): the node died.  Each start counts one unclean stop; the second rolls back.
    for expected in ("2", "1"):
        stage = build_detection(profile)
        again = ModelManager(profile, state, pub)
        again.boot(stage)
        assert stage.detector.model.manifest.version == expected
    assert "crashes" in again.status()["rolled_back"]
    again.close()
    stage = build_detection(profile)
    ModelManager(profile, state, pub).boot(stage)
    assert stage.detector.model.manifest.version == "1"


def _detections(stage, frame):
    return stage.detector.detect(frame.image)


def test_capture_keeps_event_and_quiet_frames_under_its_quota_and_packs_them(tmp_path, frames):
    from types import SimpleNamespace

    from edge.dataset import DatasetCapture, make_pack
    from edge.detect import Detections
    from edge.hub.dataset import accept_pack, export, import_labels
    from simulator.classes import CLASSES

    profile = _profile(tmp_path, max_bytes=1_000_000)
    stage = build_detection(profile)
    cap = DatasetCapture(profile, tmp_path / "state", model_info=lambda: {"name": "edge-default", "version": "1"})
    event = SimpleNamespace(stage="alert", message={"id": "fl-node-no_fishing-1"})
    kept = []
    busy = [k for k in range(6, 12) if k % 3 and len(_detections(stage, frames[k % len(frames)]))]
    assert busy, "the scenario frames show objects"
    event_k = busy[0]
    for k in range(12):
        f = frames[k % len(frames)]
        f = type(f)(image=f.image, seq=k, mono=1000.0 + k * 3600 / 8, wall=1_780_000_000.0 + k * 700)
        det = _detections(stage, f) if k % 3 else Detections.empty(stage.detector.classes)
        kept.append(cap.observe(f, det, [event] if k == event_k else [], ["fl-node-no_fishing-1"] if k == event_k else []))
    assert "event" in kept and 2 <= len(cap.frames) < sum(r is not None for r in kept)  # the oldest rotated out
    assert cap.bytes <= 1_000_000 and cap.bytes == sum(p.stat().st_size + p.with_suffix(".json").stat().st_size
                                                       for p, _ in cap.frames)
    sides = [json.loads(p.with_suffix(".json").read_text()) for p, _ in cap.frames]
    assert any("fl-node-no_fishing-1" in s["violations"] for s in sides)
    assert all(s["model"]["name"] == "edge-default" for s in sides)
    assert any(s["objects"] for s in sides)  # pre-labels from the model

    key = generate_keypair(tmp_path / "node.key", tmp_path / "node.pub")
    folder, _, n = make_pack(cap, key, hard_negatives={"fl-node-no_fishing-1"})
    assert n == len(cap.frames)
    manifest = verify_bundle(folder, load_public_key(tmp_path / "node.pub"))
    assert manifest["kind"] == "dataset"
    assert make_pack(cap, key)[2] == 0  # nothing new since

    root = tmp_path / "hub"
    assert accept_pack(root, "fl-node", folder.name, folder, load_public_key(tmp_path / "node.pub")) is None
    out = tmp_path / "export"
    counts = export(root, out, list(CLASSES), val_percent=50, block_s=600)
    assert counts["train"] + counts["val"] == n and counts["hard_negatives"] >= 1
    assert (out / "data.yaml").read_text().startswith(f"path: {out}")
    index = json.loads((out / "frames.json").read_text())
    by_block: dict = {}
    for e in index:  # frames of one node within one 10-minute block are on one side
        by_block.setdefault(int(e["wall"] // 600), set()).add(e["split"])
    assert all(len(s) == 1 for s in by_block.values())
    corrected = tmp_path / "corrected"
    corrected.mkdir()
    first = index[0]["name"]
    (corrected / f"{first}.txt").write_text("0 0.5 0.5 0.1 0.2\n")
    assert import_labels(root, corrected, list(CLASSES)) == {"files": 1, "boxes": 1}
    export(root, tmp_path / "export2", list(CLASSES), val_percent=50)
    again = json.loads((tmp_path / "export2" / "frames.json").read_text())
    assert next(e for e in again if e["name"] == first)["labels"] == "corrected"
    (corrected / f"{first}.txt").write_text("9 0.5 0.5 0.1 0.2\n")
    from edge.hub.dataset import DatasetError

    with pytest.raises(DatasetError, match=r":1: class must be"):
        import_labels(root, corrected, list(CLASSES))


def test_command_args_are_refused_by_the_router_with_one_line_naming_the_field():
    from edge.contract.commands import DatasetArgs, ModelArgs
    from edge.contract.fieldloop import ModelInfo
    from edge.link.commands import Command, CommandRouter

    router, ran, replies = CommandRouter(), [], []
    router.register("model", ModelArgs, lambda cmd, reply: ran.append(cmd.params))
    router.register("dataset", DatasetArgs, lambda cmd, reply: ran.append(cmd.params))

    def send(name, args):
        router.dispatch(Command("c1", "n1", name, args, 0.0, 60.0, "nonce"), lambda ok, err, data: replies.append(err))
        return replies[-1] if replies else None

    send("model", {"action": "rollback"})
    assert ran[-1].action == "rollback"
    assert send("model", {"action": "rollout", "manifest": "{}", "sig": "x", "url": "ftp://hub/m.onnx"}).startswith(
        "bad args: url: String should match pattern")
    assert "missing: sig, url" in send("model", {"action": "rollout", "manifest": "{}"})
    assert "only a rollout takes them" in send("model", {"action": "status", "url": "https://hub/m.onnx"})
    assert send("dataset", {"action": "pull", "max_frames": 0}).startswith("bad args: max_frames: ")
    assert send("dataset", {"action": "delete"}).startswith("bad args: action: ")
    assert len(ran) == 1  # no handler ran for a refused command
    manifest = json.loads((DEFAULT / "manifest.json").read_text())
    assert ModelInfo(name=manifest["name"], version=manifest["version"], sha256=manifest["sha256"])


def test_incidents_dismissed_as_wrong_object_name_the_hard_negatives(tmp_path):
    from edge.hub.dataset import dismissed_wrong_object
    from edge.hub.service.db import Database

    db = Database(str(tmp_path / "hub.db"))
    db.migrate()
    cols = "node, rule, kind, zone, state, level, opened_at, last_seen, messages, violations, dismiss_reason, updated"
    with db.tx() as tx:
        for n, (state, reason) in enumerate((("dismissed", "wrong_object"), ("dismissed", "authorised"),
                                             ("resolved", None)), 1):
            tx.execute(f"INSERT INTO incidents (id, {cols}) VALUES (?, 'fl-node', 'r', 'fishing', 'z', ?, 'alert', "
                       "1, 1, 1, 1, ?, 1)", (n, state, reason))
            tx.execute("INSERT INTO violations (id, node, incident) VALUES (?, 'fl-node', ?)", (f"v{n}", n))
    db.close()
    assert dismissed_wrong_object(str(tmp_path / "hub.db"), "fl-node") == ["v1"]
    assert dismissed_wrong_object(str(tmp_path / "hub.db"), "other") == []


def test_a_new_model_in_the_profile_wins_over_an_earlier_rollout(tmp_path, hub, frames):
    key, pub = hub
    profile = _profile(tmp_path)
    state = tmp_path / "state"
    manager = ModelManager(profile, state, pub)
    manager.boot(build_detection(profile))
    for f in frames:
        manager.observe(f)
    served = tmp_path / "served"
    server = FileServer(served)
    try:
        assert _roll(manager, renamed_copy(served / "v2", "edge-default", "2"), served, server, key)[0][0]
    finally:
        server.close()
    manager.close()
    stage = build_detection(profile)
    ModelManager(profile, state, pub).boot(stage)
    assert stage.detector.model.manifest.version == "2"  # the rollout survives a restart
    local = renamed_copy(tmp_path / "local", "edge-local", "5")
    (tmp_path / "node.toml").write_text((tmp_path / "node.toml").read_text().replace(str(DEFAULT), str(local)))
    profile = load_profile(tmp_path / "node.toml")
    stage = build_detection(profile)
    ModelManager(profile, state, pub).boot(stage)
    assert stage.detector.model.manifest.name == "edge-local"
