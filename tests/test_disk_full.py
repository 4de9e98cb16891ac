"""A full disk (the whole state folder on a real 8 MiB tmpfs): alerts keep flowing with signed,
chained evidence (a manifest alone when nothing else fits), degraded mode does not flap, a torn
last line of the lifecycle log never blocks the next start, and the link's threads survive."""

from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edge.rules.sink import JsonlSink, set_aside_torn_line

from .broker import Broker
from .conftest import run_cli
from .evidence_rig import evidence_node
from .receipt_hub import ReceiptingHub
from .test_link import alerts


@pytest.fixture
def small_disk(tmp_path):
    """An 8 MiB tmpfs; skipped (with the reason) where this machine cannot mount one."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)], capture_output=True,
                             text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path, leave: int) -> None:
    """Fill the disk until about `leave` bytes are free; with `leave` 0, until a write fails for want
    of space (the node under test writes and frees space on the same disk meanwhile, so a size
    measured first is not the room left when the filler is written)."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        if leave:
            free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
            _write_until_full(fd, max(0, free - leave))
        else:
            for size in (256 * 1024, 4096, 1):  # big blocks, then what still fits of a page, to the byte
                _write_until_full(fd, None, size)
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_until_full(fd: int, total: int | None, size: int = 256 * 1024) -> None:
    """Write `total` bytes (None: without end) in blocks of `size`; stop at ENOSPC."""
    block = b"\0" * size
    while total is None or total > 0:
        n = size if total is None else min(size, total)
        try:
            written = os.write(fd, block[:n])
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
            return
        if total is not None:
            total -= written


def test_a_full_disk_keeps_alerts_signed_and_chained(tmp_path, small_disk):
    broker = Broker(tmp_path / "broker").start()
    hub = ReceiptingHub(broker).wait_ready()
    profile = evidence_node(tmp_path / "node")
    state = small_disk / "state"
    assert run_cli("edge-node", "keys", "init", "--state-dir", str(state)).returncode == 0
    link = ["--set", "link.enabled=true", "--set", 'link.host="127.0.0.1"', "--set", f"link.port={broker.port}"]
    try:
        first = run_cli("edge-node", "run", "--config", str(profile), "--state-dir", str(state), *link,
                        "--max-frames", "20")  # the databases exist: now fill the disk around them
        assert first.returncode == 0, first.stderr[-3000:]
        fill(small_disk, 1536 * 1024)
        result = run_cli("edge-node", "run", "--config", str(profile), "--state-dir", str(state), *link,
                         "--max-frames", "200", timeout=180)
        err = result.stderr
        (tmp_path / "run.log").write_text(err)
        assert result.returncode == 0, err[-3000:]
        assert "goes out without evidence" not in err and "sealing failed" not in err, err[-3000:]
        assert err.count("evidence: DEGRADED") <= 1 and "storage available again" not in err, "no flapping"
        assert "Traceback" not in err
        sent = alerts(hub.messages, "edge/ev-node/alert")
        alerted = {m["id"] for m in sent if m["stage"] == "alert"}
        assert len(alerted) >= 3, err[-3000:]
        assert hub.wait_for(lambda m: alerted <= {a["id"] for a in alerts(m, "edge/ev-node/alert")
                                                  if a["stage"] == "cleared"}, timeout=30)
        cleared = {m["id"]: m for m in alerts(hub.messages, "edge/ev-node/alert") if m["stage"] == "cleared"}
        assert all(cleared[v]["evidence"] for v in alerted), "every alert's facts are signed and chained"
        verify = run_cli("edge-node", "evidence", "verify", "--all", "--state-dir", str(state))
        assert verify.returncode == 0, verify.stdout + verify.stderr
        manifests = [json.loads((state / "evidence" / v / "manifest.json").read_text()) for v in alerted]
        assert any(m["degraded"] for m in manifests), "the disk was full for some of them"

        # a write torn by the full disk: the next start sets it aside, once, and runs
        with open(state / "lifecycle.jsonl", "ab") as f:
            f.write(b'{"id": "torn-by-the-full-disk", "st')
        again = run_cli("edge-node", "run", "--config", str(profile), "--state-dir", str(state), *link,
                        "--max-frames", "5")
        assert again.returncode == 0, again.stderr[-3000:]
        assert again.stderr.count("its last line was torn") == 1
        assert (state / "lifecycle.jsonl").read_bytes().endswith(b"\n")
    finally:
        hub.close()
        broker.stop()


def test_a_torn_last_line_is_set_aside_and_the_rest_kept(tmp_path, caplog):
    path = tmp_path / "lifecycle.jsonl"
    sink = JsonlSink(path)
    sink.write({"id": "v1", "stage": "alert"})
    sink.close()
    with open(path, "ab") as f:
        f.write(b'{"id": "v2", "sta')
    assert set_aside_torn_line(path) == b'{"id": "v2", "sta'
    assert path.read_bytes() == b'{"id":"v1","stage":"alert"}\n'
    assert (tmp_path / "lifecycle.jsonl.torn").read_bytes() == b'{"id": "v2", "sta\n'
    assert set_aside_torn_line(path) is None, "a whole file is left alone"


def test_a_disk_at_zero_bytes_free_is_survived(tmp_path, small_disk):
    """Something else filled the disk to the last byte: the node keeps running and alerting (directly,
    when its outbox cannot commit), its reserve lets it start and seals the first alert's facts, the
    link's threads live on, and it recovers once room comes back."""
    broker = Broker(tmp_path / "broker").start()
    hub = ReceiptingHub(broker).wait_ready()
    profile = evidence_node(tmp_path / "node")
    state = small_disk / "state"
    assert run_cli("edge-node", "keys", "init", "--state-dir", str(state)).returncode == 0
    link = ["--set", "link.enabled=true", "--set", 'link.host="127.0.0.1"', "--set", f"link.port={broker.port}"]
    try:
        first = run_cli("edge-node", "run", "--config", str(profile), "--state-dir", str(state), *link,
                        "--max-frames", "20")
        assert first.returncode == 0, first.stderr[-3000:]
        fill(small_disk, 0)
        result = run_cli("edge-node", "run", "--config", str(profile), "--state-dir", str(state), *link,
                         "--max-frames", "120", timeout=180)
        err = result.stderr
        (tmp_path / "run.log").write_text(err)
        assert result.returncode == 0, err[-3000:]
        assert "Traceback" not in err and "sealing failed" not in err
        assert err.count("evidence: DEGRADED") <= 1 and "storage available again" not in err
        sent = alerts(hub.messages, "edge/ev-node/alert")
        assert sum(m["stage"] == "alert" for m in sent) >= 3, "alerts flow whatever the disk"
        assert "the space kept in reserve" in err
        assert "mqtt-outbox works again" in err or "mqtt-outbox" not in err, "the link's thread lives on"
        assert any(m["stage"] == "cleared" and m["evidence"] for m in sent), "the reserve sealed one at least"
        (small_disk / "filler").unlink()  # room again: everything is sound, the next start runs
        verify = run_cli("edge-node", "evidence", "verify", "--all", "--state-dir", str(state))
        assert verify.returncode == 0, verify.stdout + verify.stderr
        again = run_cli("edge-node", "run", "--config", str(profile), "--state-dir", str(state), *link,
                        "--max-frames", "5")
        assert again.returncode == 0, again.stderr[-3000:]
    finally:
        hub.close()
        broker.stop()


def test_the_wav_sink_stops_writing_on_a_nearly_full_disk(small_disk):
    import threading

    from edge.speaker.audio import Pcm
    from edge.speaker.sinks import FileSink

    sink = FileSink(small_disk / "speaker", realtime=False)
    pcm = Pcm(np.zeros((16000, 1), dtype=np.int16), 16000)
    assert sink.play(pcm, threading.Event()) and len(list((small_disk / "speaker").iterdir())) == 1
    fill(small_disk, 2 * 1024 * 1024)  # below the sink's floor: what was played can wait
    assert sink.play(pcm, threading.Event()) and sink.state == "disk full"
    assert len(list((small_disk / "speaker").iterdir())) == 1
    (small_disk / "filler").unlink()
    assert sink.play(pcm, threading.Event()) and sink.state == "ok"


def test_the_outbox_thread_survives_a_full_disk_and_says_it_is_unhealthy(tmp_path, small_disk):
    import json as _json
    import time

    from edge.config import load_profile
    from edge.link import NodeLink

    from .broker import Subscriber
    from .test_link import write_profile

    broker = Broker(tmp_path / "broker").start()
    hub = ReceiptingHub(broker).wait_ready()
    status = Subscriber(broker, ["edge/n1/status"], client_id="status-watch").wait_ready()
    link = NodeLink(load_profile(write_profile(tmp_path, broker)), small_disk / "state", "test").start()
    try:
        assert link.mqtt.connected.wait(10)
        for i in range(200):  # rows to acknowledge while the disk fills
            link.publish_alert({"id": f"a{i}", "node": "n1", "stage": "alert"})
        fill(small_disk, 0)
        for i in range(200):
            link.publish_alert({"id": f"b{i}", "node": "n1", "stage": "alert"})  # direct, if not committed

        def last_status():
            bodies = [_json.loads(p) for t, p, _ in status.messages if t == "edge/n1/status"]
            return bodies[-1] if bodies else {}

        assert status.wait_for(lambda m: last_status().get("healthy") is False, timeout=20), last_status()
        assert link.health() and "mqtt-outbox" in link.health()[0]
        (small_disk / "filler").unlink()
        assert status.wait_for(lambda m: last_status().get("healthy") is True, timeout=30), last_status()
        deadline = time.monotonic() + 30
        while link.outbox.depth() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert link.outbox.depth() == 0, "the thread lived on and drained the outbox"
        assert link.mqtt._pump_thread.is_alive()
        got = {_json.loads(p)["id"] for t, p, _ in hub.messages if t == "edge/n1/alert"}
        assert {f"a{i}" for i in range(200)} <= got and {f"b{i}" for i in range(200)} <= got
    finally:
        link.stop()
        status.close()
        hub.close()
        broker.stop()
