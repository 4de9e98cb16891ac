"""Every violation ends: one left open by a kill -9 is cleared at the next start (reason `restart`,
with the evidence hash of its bundle, sealed as incomplete), and the hub receives that message."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import time

from .broker import Broker
from .conftest import BIN, REPO, run_cli
from .evidence_rig import evidence_node
from .receipt_hub import ReceiptingHub
from .schemas import assert_valid
from .test_link import alerts


def test_a_violation_open_at_a_kill_9_is_cleared_at_the_next_start(tmp_path):
    broker = Broker(tmp_path / "broker").start()
    hub = ReceiptingHub(broker, ["edge/+/alert"]).wait_ready()
    profile = evidence_node(tmp_path / "node")
    state = tmp_path / "node" / "state"
    assert run_cli("edge-node", "keys", "init", "--state-dir", str(state)).returncode == 0
    link = ["--set", "link.enabled=true", "--set", 'link.host="127.0.0.1"', "--set", f"link.port={broker.port}"]
    video = tmp_path / "node" / "blink.mp4"  # in real time, so that the kill lands inside the violation
    node = subprocess.Popen([str(BIN / "edge-node"), "run", "--config", str(profile), "--state-dir", str(state),
                             "--source", f"file:{video}?loop=1&realtime=1", *link], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        for line in node.stderr:
            if "ALERT " in line or time.monotonic() > deadline:
                break
        time.sleep(0.5)  # the bundle is open, its clip being collected
        node.send_signal(signal.SIGKILL)  # in the middle of the violation, its bundle open
        node.wait(10)
        events = [json.loads(x) for x in (state / "lifecycle.jsonl").read_text().splitlines() if x.strip()]
        last = {}
        for e in events:
            last[e["id"]] = e["stage"]
        open_ids = {vid for vid, stage in last.items() if stage != "cleared"}
        assert open_ids, "the kill came while a violation was open"
        again = run_cli("edge-node", "run", "--config", str(profile), "--state-dir", str(state), *link,
                        "--max-frames", "2")
        assert again.returncode == 0, again.stderr[-3000:]
        assert again.stderr.count("closed at start-up (reason restart") == len(open_ids)
        assert hub.wait_for(lambda m: {a["id"] for a in alerts(m, "edge/ev-node/alert")
                                       if a["stage"] == "cleared"} >= open_ids, timeout=30)
        with_bundle = 0
        for message in alerts(hub.messages, "edge/ev-node/alert"):
            if message["id"] in open_ids and message["stage"] == "cleared":
                assert_valid("alert", message)
                assert message["reason"] == "restart"
                bundle = state / "evidence" / message["id"]
                if (bundle / "manifest.json").exists():  # an alert (not a warning only) has a bundle
                    manifest = bundle / "manifest.json"
                    assert message["evidence"] == hashlib.sha256(manifest.read_bytes()).hexdigest()
                    assert json.loads(manifest.read_text())["incomplete"]
                    with_bundle += 1
        assert with_bundle >= 1, "the violation killed after its alert carries its bundle's hash"
        third = run_cli("edge-node", "run", "--config", str(profile), "--state-dir", str(state), *link,
                        "--max-frames", "2")
        assert "reason restart" not in third.stderr, "closed once, not at every start"
    finally:
        node.kill()
        hub.close()
        broker.stop()


def test_only_violations_without_their_cleared_are_closed():
    from edge.interrupted import open_at_stop, restart_cleared

    events = [{"id": "a", "stage": "warning", "ts": "2026-04-10T09:00:00+08:00"},
              {"id": "b", "stage": "warning", "ts": "2026-04-10T09:00:01+08:00"},
              {"id": "a", "stage": "alert", "ts": "2026-04-10T09:00:05+08:00"},
              {"id": "b", "stage": "cleared", "ts": "2026-04-10T09:00:06+08:00"},
              {"id": "c", "stage": "warning"}, {"not": "a lifecycle message"}]
    left = open_at_stop(events)
    assert [(e["id"], e["stage"]) for e in left] == [("a", "alert"), ("c", "warning")]
    closed = restart_cleared(left[0], 1775782810.0)
    assert closed["stage"] == "cleared" and closed["reason"] == "restart" and closed["evidence"] is None
    assert closed["ended_at"] == "2026-04-10T09:00:05+08:00" and closed["ts"].endswith("+08:00")
    assert restart_cleared(left[1], 0.0)["ts"].endswith("+00:00"), "no time zone known: UTC"
