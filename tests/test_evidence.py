"""Evidence: the pre-roll buffer, clips that cover their interval, tamper detection, retention,
recovery after kill -9, a disk that fills up, and export for checking with standard tools."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import apsw
import av
import numpy as np
import pytest

from edge.capture import Frame
from edge.crypto import generate_keypair, load_private_key, load_public_key
from edge.evidence import EncodedFrame, EvidenceStore, PrerollBuffer, SoftwareEncoder
from edge.evidence.clip import write_clip
from edge.evidence.manifest import file_entry
from edge.evidence.verify import verify_store

from .conftest import BIN, REPO, run_cli
from .evidence_rig import evidence_node


def ef(t: float, key: bool, size: int = 1000) -> EncodedFrame:
    return EncodedFrame(b"x" * size, key, t, 1e9 + t)


# --- the pre-roll buffer ------------------------------------------------------------------------

def test_buffer_keeps_whole_gops_within_its_time_and_byte_limits():
    buf = PrerollBuffer(seconds=10.0, max_bytes=10**9)
    for i in range(150):  # 30 s at 5 fps, a keyframe every 2 s
        buf.push(ef(i * 0.2, i % 10 == 0))
    frames = buf.since(0.0)
    assert frames[0].keyframe and 10.0 <= frames[-1].mono - frames[0].mono <= 12.0
    assert buf.since(25.3)[0].mono == 24.0  # from the keyframe before the requested moment
    small = PrerollBuffer(seconds=100.0, max_bytes=25_000)
    for i in range(150):
        small.push(ef(i * 0.2, i % 10 == 0))
    assert small.bytes <= 25_000 + 10_000 and small.since(0)[0].keyframe
    empty = PrerollBuffer(10, 10**6)
    empty.push(ef(0, False))  # never starts without a keyframe
    assert empty.since(0) == []


def frames_of_a_moving_square(n: int, fps: float = 5.0, size=(640, 360)) -> list[Frame]:
    w, h = size
    out = []
    for i in range(n):
        img = np.full((h, w, 3), 60, np.uint8)
        img[100:160, 10 + 5 * i: 70 + 5 * i] = 230
        out.append(Frame(img, i + 1, mono=100.0 + i / fps, wall=1.7e9 + i / fps))
    return out


def test_encoded_clip_covers_the_requested_interval():
    buf = PrerollBuffer(seconds=60, max_bytes=10**8)
    enc = SoftwareEncoder(buf, gop_s=1.0, blocking=True).start()
    for frame in frames_of_a_moving_square(100):  # 20 s
        enc.submit(frame)
    enc.stop()
    assert enc.encoded >= 98 and enc.skipped == 0
    start, end = 105.0, 112.0  # ask for 5..12 s into the stream
    frames = [f for f in buf.since(start) if f.mono <= end]
    assert frames[0].keyframe and start - 1.0 <= frames[0].mono <= start
    info = write_clip(Path(os.environ["EDGE_STATE_DIR"]) / "cover.mp4", frames, buf.size, buf.fps)
    with av.open(str(Path(os.environ["EDGE_STATE_DIR"]) / "cover.mp4")) as container:
        decoded = [f for f in container.decode(video=0)]
        assert container.streams.video[0].codec_context.name == "h264"
    times = [f.time for f in decoded]
    assert len(decoded) == info.frames and times[0] == 0.0
    assert times[-1] == pytest.approx(end - frames[0].mono, abs=0.01)
    assert info.start_mono <= start and info.end_mono == pytest.approx(end, abs=0.01)


def test_ten_seconds_of_720p_at_5fps_fits_in_a_small_buffer():
    buf = PrerollBuffer(seconds=10, max_bytes=10**8)
    enc = SoftwareEncoder(buf, blocking=True).start()
    from simulator.render import Renderer
    from simulator.scenario import load_scenario

    renderer = Renderer(load_scenario("market_day_stall_sidewalk"))
    for i in range(60):
        rendered = renderer.render(200 + i)
        enc.submit(Frame(rendered.image, i, mono=i / 5, wall=i / 5))
    enc.stop()
    assert buf.span_s <= 12 and buf.bytes < 5 * 1024 * 1024  # raw frames would be 138 MB


# --- a running node --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def node_with_bundles(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ev")
    profile = evidence_node(folder)
    state = folder / "state"
    assert run_cli("edge-node", "keys", "init", "--state-dir", str(state)).returncode == 0
    result = run_cli("edge-node", "run", "--config", str(profile), "--state-dir", str(state), "--max-frames", "130")
    assert result.returncode == 0, result.stderr
    return folder, state


def test_a_node_seals_one_verified_bundle_per_alert(node_with_bundles):
    folder, state = node_with_bundles
    events = [json.loads(line) for line in (state / "lifecycle.jsonl").read_text().splitlines()]
    alerts = [e for e in events if e["stage"] == "alert"]
    cleared = {e["id"]: e for e in events if e["stage"] == "cleared"}
    assert len(alerts) >= 4
    for alert in alerts:
        assert alert["snapshot"] == f"{alert['id']}/snapshot_best.jpg"
        bundle = state / "evidence" / alert["id"]
        manifest = json.loads((bundle / "manifest.json").read_text())
        assert cleared[alert["id"]]["evidence"] == __import__("hashlib").sha256(
            (bundle / "manifest.json").read_bytes()).hexdigest()
        assert {f["name"] for f in manifest["files"]} == {"clip.mp4", "snapshot_best.jpg", "snapshot_best_annotated.jpg",
                                                          "snapshot_after.jpg", "snapshot_after_annotated.jpg"}
        assert manifest["model"]["name"] == "brightness" and len(manifest["config_sha256"]) == 64
        assert manifest["node"] == "ev-node" and manifest["zone"] == "shore" and not manifest["incomplete"]
    result = run_cli("edge-node", "evidence", "verify", "--all", "--state-dir", str(state))
    assert result.returncode == 0, result.stdout + result.stderr
    listing = run_cli("edge-node", "evidence", "list", "--state-dir", str(state))
    assert listing.returncode == 0 and f"{len(alerts)} bundle(s)" in listing.stdout


def test_the_original_snapshot_stays_clean(node_with_bundles):
    import cv2

    _, state = node_with_bundles
    bundle = next(p for p in (state / "evidence").iterdir() if p.is_dir())
    clean = cv2.imread(str(bundle / "snapshot_best.jpg")).astype(int)
    marked = cv2.imread(str(bundle / "snapshot_best_annotated.jpg")).astype(int)
    assert np.abs(clean[:40] - marked[:40]).mean() > 20  # the caption band is on the copy only
    assert clean[:40].std() > 5  # ... while the original top rows are still the scene


@pytest.mark.parametrize("victim", ["clip.mp4", "snapshot_best.jpg", "snapshot_after_annotated.jpg", "manifest.json",
                                    "manifest.sig"])
def test_a_one_byte_change_anywhere_is_caught(node_with_bundles, tmp_path, victim):
    _, state = node_with_bundles
    copy = tmp_path / "state"
    shutil.copytree(state, copy)
    bundle = sorted(p for p in (copy / "evidence").iterdir() if p.is_dir())[1]
    path = bundle / victim
    data = bytearray(path.read_bytes())
    spot = random.Random(victim).randrange(len(data))
    data[spot] ^= 0x01
    path.write_bytes(bytes(data))
    result = run_cli("edge-node", "evidence", "verify", "--all", "--state-dir", str(copy))
    assert result.returncode == 1
    first_bad = result.stderr.strip()
    named = "manifest.json" if victim == "manifest.sig" else victim
    assert first_bad.startswith(f"edge-node: {path.parent / named}") or first_bad.startswith(
        f"edge-node: {path}"), first_bad


def test_a_removed_bundle_breaks_the_chain(node_with_bundles, tmp_path):
    _, state = node_with_bundles
    copy = tmp_path / "state"
    shutil.copytree(state, copy)
    store = EvidenceStore(copy)
    rows = store.rows()
    middle = rows[1]
    with store._db:  # someone deletes a bundle and its chain entry to hide it
        store._db.execute("DELETE FROM chain WHERE seq = ?", (middle.seq,))
        store._db.execute("DELETE FROM bundles WHERE id = ?", (middle.id,))
    shutil.rmtree(store.folder(middle.id))
    verdicts = verify_store(store, load_public_key(copy / "keys" / "node.pub"))
    assert any(not v.ok and "chain" in v.problem for v in verdicts)
    store.close()


def test_export_is_checkable_with_sha256sum_and_openssl(node_with_bundles, tmp_path):
    _, state = node_with_bundles
    bundle = sorted(p for p in (state / "evidence").iterdir() if p.is_dir())[0].name
    out = tmp_path / "export"
    result = run_cli("edge-node", "evidence", "export", bundle, "--out", str(out), "--state-dir", str(state))
    assert result.returncode == 0, result.stderr
    assert "openssl pkeyutl -verify" in (out / "README.txt").read_text()
    sums = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True)
    assert sums.returncode == 0 and sums.stdout.count(": OK") == 5
    sig = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "node.pub", "-rawin", "-in",
                          "manifest.json", "-sigfile", "manifest.sig"], cwd=out, capture_output=True, text=True)
    assert sig.returncode == 0 and "Signature Verified Successfully" in sig.stdout


# --- retention ---------------------------------------------------------------------------------

def fake_bundle(store: EvidenceStore, key, name: str, size: int) -> None:
    folder = store.open(name, {"node": "n"})
    (folder / "clip.mp4").write_bytes(os.urandom(size))
    store.seal(name, {"node": "n"}, [file_entry(folder, "clip.mp4", "clip")], key)


def test_retention_never_deletes_unacknowledged_or_held_bundles(tmp_path):
    key = generate_keypair(tmp_path / "k", tmp_path / "k.pub")
    store = EvidenceStore(tmp_path / "state")
    for i in range(6):
        fake_bundle(store, key, f"b{i}", 100_000)
    assert store.enforce(max_bytes=250_000, min_free_bytes=0) is True  # nothing may go: degraded
    assert [r.id for r in store.rows()] == [f"b{i}" for i in range(6)]
    store.mark_acked("b0")
    store.mark_acked("b1")
    store.mark_acked("b3")
    store.set_hold("b1", True)
    assert store.enforce(max_bytes=250_000, min_free_bytes=0) is True  # b0 and b3 go, still over
    assert [r.id for r in store.rows()] == ["b1", "b2", "b4", "b5"]
    for name in ("b2", "b4", "b5"):
        store.mark_acked(name)
    assert store.enforce(max_bytes=250_000, min_free_bytes=0) is False  # oldest first: b2, then b4
    assert [r.id for r in store.rows()] == ["b1", "b5"]
    assert {r.id for r in store.rows(include_deleted=True) if r.deleted} == {"b0", "b2", "b3", "b4"}
    verdicts = verify_store(store, load_public_key(tmp_path / "k.pub"))
    assert all(v.ok for v in verdicts), verdicts  # the chain survives deletions
    store.close()


def test_a_full_quota_degrades_to_snapshots_only(tmp_path):
    folder = tmp_path / "node"
    profile = evidence_node(folder, evidence="max_bytes = 1")
    state = folder / "state"
    run_cli("edge-node", "keys", "init", "--state-dir", str(state))
    result = run_cli("edge-node", "run", "--config", str(profile), "--state-dir", str(state), "--max-frames", "150")
    assert result.returncode == 0, result.stderr
    assert "DEGRADED" in result.stderr or "keeps snapshots only" in result.stderr
    manifests = sorted((json.loads(p.read_text()) for p in (state / "evidence").glob("*/manifest.json")),
                       key=lambda m: m["sequence"])
    assert "clip.mp4" in {f["name"] for f in manifests[0]["files"]}  # the first fills the quota
    degraded = [m for m in manifests if m["degraded"]]
    assert degraded and all("clip.mp4" not in {f["name"] for f in m["files"]} for m in degraded)
    assert all("storage was full" in " ".join(m["notes"]) for m in degraded)
    assert all(any(f["name"] == "snapshot_best.jpg" for f in m["files"]) for m in manifests)
    events = [json.loads(line) for line in (state / "lifecycle.jsonl").read_text().splitlines()]
    assert sum(e["stage"] == "alert" for e in events) >= 2, "alerts flow whatever the disk"


# --- crashes and full disks ---------------------------------------------------------------------

def test_an_interrupted_bundle_is_sealed_again_as_incomplete(tmp_path):
    key = generate_keypair(tmp_path / "k", tmp_path / "k.pub")
    store = EvidenceStore(tmp_path / "state")
    fake_bundle(store, key, "done", 1000)
    folder = store.open("torn", {"node": "n", "rule": "r"})
    (folder / "snapshot_best.jpg").write_bytes(b"jpeg" * 100)
    (folder / "clip.mp4.part").write_bytes(b"half a clip")
    (folder / "manifest.json").write_text("{}")  # written just before the power went
    store.close()
    store = EvidenceStore(tmp_path / "state")
    assert store.recover(load_private_key(tmp_path / "k")) == ["torn"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["incomplete"] and [f["name"] for f in manifest["files"]] == ["snapshot_best.jpg"]
    assert "clip.mp4.part" in " ".join(manifest["notes"]) and not (folder / "clip.mp4.part").exists()
    assert all(v.ok for v in verify_store(store, load_public_key(tmp_path / "k.pub")))
    store.close()


def test_kill_9_while_bundles_are_written_never_leaves_a_bad_bundle(tmp_path):
    """20 power cuts at random moments of a node writing bundles; after each restart all is sound."""
    profile = evidence_node(tmp_path / "node")
    state = tmp_path / "node" / "state"
    run_cli("edge-node", "keys", "init", "--state-dir", str(state))
    rng = random.Random(20261124)
    recovered = 0
    for run in range(20):
        node = subprocess.Popen([str(BIN / "edge-node"), "run", "--config", str(profile), "--state-dir", str(state)],
                                cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        for line in node.stderr:  # wait until it is really running, then cut the power at a random moment
            recovered += "sealed as incomplete" in line
            if "reading file:" in line or time.monotonic() > deadline:
                break
        time.sleep(rng.uniform(0.05, 1.5))
        node.send_signal(signal.SIGKILL)
        node.wait(10)
        if run % 5 == 4:
            check = run_cli("edge-node", "run", "--config", str(profile), "--state-dir", str(state),
                            "--max-frames", "1")
            recovered += check.stderr.count("sealed as incomplete")
            verify = run_cli("edge-node", "evidence", "verify", "--all", "--state-dir", str(state))
            assert verify.returncode == 0, f"run {run}: {verify.stdout}{verify.stderr}"
    db = apsw.Connection(str(state / "evidence.db"))
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store = EvidenceStore(state)
    rows = store.rows()
    assert len(rows) >= 20 and all(r.state == "sealed" for r in rows)
    assert [seq for seq, *_ in store.chain()] == list(range(1, len(store.chain()) + 1))
    assert recovered >= 1, "some power cuts should have hit a bundle being written"
    assert not list((state / "evidence").glob("*/*.part"))
    store.close()


def test_a_disk_that_fills_up_while_writing_is_survived(tmp_path):
    """The evidence disk (here a 3 MB tmpfs) fills in the middle of writing bundles."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root (CI runs as root)")
    folder = tmp_path / "node"
    profile = evidence_node(folder)
    state = folder / "state"
    disk = state / "evidence"
    disk.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)], check=True)
    try:
        run_cli("edge-node", "keys", "init", "--state-dir", str(state))
        result = run_cli("edge-node", "run", "--config", str(profile), "--state-dir", str(state),
                         "--set", "evidence.min_free_bytes=0", "--max-frames", "150")
        assert result.returncode == 0, result.stderr[-3000:]
        # the disk fills (ENOSPC mid-write), or media stop just before it does (the operating floor)
        assert "No space left on device" in result.stderr or "DEGRADED" in result.stderr
        events = [json.loads(line) for line in (state / "lifecycle.jsonl").read_text().splitlines()]
        assert sum(e["stage"] == "alert" for e in events) >= 4, "alerts flow while the disk is full"
        assert not list((state / "evidence").glob("*/*.part")), "partial files are removed"
        verify = run_cli("edge-node", "evidence", "verify", "--all", "--state-dir", str(state))
        assert verify.returncode == 0, verify.stdout + verify.stderr
    finally:
        subprocess.run(["umount", str(disk)], check=False)
