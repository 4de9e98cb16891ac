"""Dock mode: identify recorders, ingest with a chain of custody, survive an unplug, clean up."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from edge.crypto import generate_keypair, load_public_key
from edge.evidence import EvidenceStore
from edge.evidence.verify import verify_store
from edge.sync import Dock, identify

from .broker import Broker
from .conftest import BIN, PROFILES, REPO, run_cli

TZ = ZoneInfo("Asia/Shanghai")


def recorder(mount: Path, name: str, files: dict[str, int], info: str | None = None) -> Path:
    """A folder laid out like a GA/T 947 body-worn recorder's storage."""
    root = mount / name
    media = root / "DCIM" / "100MEDIA"
    media.mkdir(parents=True)
    for file, size in files.items():
        (media / file).write_bytes(os.urandom(size))
    if info is not None:
        (root / "DEVICE.INI").write_text(info, encoding="utf-8")
    return root


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_recorders_identify_themselves_in_several_ways(tmp_path):
    a = recorder(tmp_path, "USB0", {"x.mp4": 10}, info="[device]\n产品序号=DSJ2026A0042\n警号=310045\n")
    assert (identify(a).serial, identify(a).officer, identify(a).identified_by) == ("DSJ2026A0042", "310045",
                                                                                     "info file DEVICE.INI")
    b = recorder(tmp_path, "SN7788_OF321", {"x.mp4": 10})
    assert (identify(b).serial, identify(b).officer) == ("SN7788", "OF321")
    c = recorder(tmp_path, "USB2", {"DSJ99_P0077_20260410093000_0001.MP4": 10})
    assert (identify(c).serial, identify(c).officer, identify(c).identified_by) == ("DSJ99", "P0077", "file names")
    d = recorder(tmp_path, "mystery", {"clip.mp4": 10})
    assert identify(d).serial == "mystery" and identify(d).officer is None


@pytest.fixture
def dock(tmp_path):
    state = tmp_path / "state"
    key = generate_keypair(state / "keys" / "node.key", state / "keys" / "node.pub")
    store = EvidenceStore(state)
    mount = tmp_path / "mount"
    mount.mkdir()
    dock = Dock(mount, state, store, key, node="dock-01", tz=TZ)
    yield dock, mount, state
    dock.close()
    store.close()


def test_new_recordings_become_one_signed_custody_bundle(dock):
    dock_, mount, state = dock
    root = recorder(mount, "DSJ1_OF9", {"a.mp4": 3_000_000, "b.jpg": 40_000},
                    info="serial=DSJ2026B0001\nofficer=310046\n")
    (bundle,) = dock_.scan()
    folder = state / "evidence" / bundle
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["recorder"]["serial"] == "DSJ2026B0001" and manifest["recorder"]["officer"] == "310046"
    assert manifest["custody"]["received_by"] == "dock-01" and manifest["kind"] == "dock"
    sources = {f["source"]: f for f in manifest["files"]}
    assert set(sources) == {"DCIM/100MEDIA/a.mp4", "DCIM/100MEDIA/b.jpg"}
    for source, entry in sources.items():
        assert entry["sha256"] == sha(root / source) == sha(folder / entry["name"])
        assert entry["recorded_at"].endswith("+08:00")
    assert all(v.ok for v in verify_store(dock_.store, load_public_key(state / "keys" / "node.pub")))
    assert dock_.scan() == []  # nothing new
    (root / "DCIM" / "100MEDIA" / "c.mp4").write_bytes(os.urandom(1000))
    (second,) = dock_.scan()
    assert [f["source"] for f in json.loads((state / "evidence" / second / "manifest.json").read_text())["files"]] \
        == ["DCIM/100MEDIA/c.mp4"]


def test_a_recorder_pulled_out_mid_copy_leaves_nothing_registered_and_resumes(dock, caplog):
    dock_, mount, state = dock
    root = recorder(mount, "DSJ2_OF7", {"long.mp4": 20_000_000, "short.mp4": 1000})

    def pulled(path, done):
        if path.name == "long.mp4" and done >= 8_000_000:
            raise OSError(5, "Input/output error")  # EIO: the USB device is gone
    dock_.read_hook = pulled
    assert dock_.scan() == []
    assert dock_.store.rows() == [] and not any(p.is_dir() for p in (state / "evidence").iterdir())
    assert dock_._db.execute("SELECT count(*) FROM ingested").fetchone()[0] == 0
    partial = list((state / "dock-spool").glob("*.part"))
    assert partial and 8_000_000 <= partial[0].stat().st_size < 20_000_000
    dock_.read_hook = None  # plugged in again
    caplog.set_level("INFO")
    (bundle,) = dock_.scan()
    assert "resuming DCIM/100MEDIA/long.mp4" in caplog.text
    manifest = json.loads((state / "evidence" / bundle / "manifest.json").read_text())
    long_entry = next(f for f in manifest["files"] if f["source"].endswith("long.mp4"))
    assert long_entry["sha256"] == sha(root / "DCIM/100MEDIA/long.mp4")
    assert not list((state / "dock-spool").glob("*.part"))


def test_a_dock_uploads_to_the_hub_and_removes_only_verified_recordings(tmp_path):
    broker = Broker(tmp_path / "broker").start()
    state, hub_dir, mount = tmp_path / "state", tmp_path / "hub", tmp_path / "mount"
    mount.mkdir()
    generate_keypair(tmp_path / "hub.key", state / "keys" / "hub.pub")
    run_cli("edge-node", "keys", "init", "--state-dir", str(state))
    (hub_dir / "node-keys").mkdir(parents=True)
    shutil.copy(state / "keys" / "node.pub", hub_dir / "node-keys" / "dock-01.pub")
    root = recorder(mount, "DSJ3_OF5", {"a.mp4": 600_000, "b.mp4": 300_000})
    receiver = subprocess.Popen([str(BIN / "edge-hub"), "receive", "--broker", broker.address, "--dir", str(hub_dir),
                                 "--key", str(tmp_path / "hub.key")], cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    node = subprocess.Popen(
        [str(BIN / "edge-node"), "run", "--config", str(PROFILES / "dock.toml"), "--state-dir", str(state),
         "--set", f'dock.mount_dir="{mount}"', "--set", "dock.delete_after_upload=true", "--set",
         "dock.scan_interval_s=0.5", "--set", "link.host=127.0.0.1", "--set", f"link.port={broker.port}"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "dock.log", "w"),  # noqa: SIM115 (the child process keeps it)
        env={**os.environ, "EDGE_MQTT_PASSWORD": "x"})
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and list((root / "DCIM" / "100MEDIA").iterdir()):
            time.sleep(0.2)
        log = (tmp_path / "dock.log").read_text()
        assert not list((root / "DCIM" / "100MEDIA").iterdir()), log[-3000:]
        bundles = list((hub_dir / "bundles" / "dock-01").iterdir())
        assert len(bundles) == 1
        manifest = json.loads((bundles[0] / "manifest.json").read_text())
        assert manifest["recorder"]["serial"] == "DSJ3" and len(manifest["files"]) == 2
        assert "verified by the hub" in log
    finally:
        node.terminate()
        node.wait(20)
        receiver.terminate()
        receiver.wait(10)
        broker.stop()
