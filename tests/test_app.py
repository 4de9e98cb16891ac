"""The node built in-process by edge.app.build_node (what `edge-node run` does after parsing), on a
short video file against a real mosquitto: it detects, reports, answers commands, and its teardown
leaves no thread behind."""

from __future__ import annotations

import json
import threading
import time

import pytest

from edge.app import StartupError, build_node, claim_state_dir
from edge.config import load_profile
from edge.crypto import generate_keypair
from edge.link.commands import make_command

from .broker import Broker
from .conftest import level_video
from .onnx_models import model_folder, yolov8_output
from .receipt_hub import ReceiptingHub
from .schemas import assert_valid

CLASSES = ["person", "fishing_rod", "boat", "stall", "cart", "vehicle"]
PERSON = (160.0, 200.0, 15.0, 25.0, 0, 0.9)  # feet at y 0.66 of a 320x240 frame: on the shore band
ROD = (130.0, 180.0, 60.0, 32.5, 1, 0.8)

PROFILE = """
[node]
id = "app-node"
kind = "camera"
timezone = "Asia/Shanghai"

[capture]
source = "usb:0"

[detect]
model = "model"
motion = {{ enabled = false }}

[[zones]]
name = "shore"
polygon = [[0.0, 0.50], [1.0, 0.50], [1.0, 0.95], [0.0, 0.95]]

[[rules]]
name = "no_fishing"
kind = "fishing"
zones = ["shore"]
dwell_s = 0.5
recheck_s = 0.5
clear_after_s = 1

[link]
host = "127.0.0.1"
port = {port}
stats_interval_s = 0.5
reconnect = {{ initial_s = 0.1, max_s = 0.5 }}
"""


@pytest.fixture
def site(tmp_path):
    broker = Broker(tmp_path / "broker").start()
    hub = ReceiptingHub(broker, ["edge/app-node/#"]).wait_ready()
    state = tmp_path / "state"
    generate_keypair(state / "keys" / "node.key", state / "keys" / "node.pub")
    hub_key = generate_keypair(tmp_path / "hub.key", state / "keys" / "hub.pub")
    model_folder(tmp_path / "model", yolov8_output([PERSON, ROD], len(CLASSES)), CLASSES)
    (tmp_path / "node.toml").write_text(PROFILE.format(port=broker.port))
    clip = level_video(tmp_path / "clip.mp4", n=20, fps=10.0)
    yield tmp_path, broker, hub, hub_key, state, clip
    hub.close()
    broker.stop()


def _payloads(hub, leaf: str) -> list[dict]:
    return [json.loads(p) for t, p, _ in list(hub.messages) if t == f"edge/app-node/{leaf}"]


def test_a_node_built_in_process_runs_answers_commands_and_leaves_no_thread(site):
    tmp_path, broker, hub, hub_key, state, clip = site
    profile_path = tmp_path / "node.toml"
    profile = load_profile(profile_path)
    claim_state_dir(state)
    before = set(threading.enumerate())
    stop = threading.Event()
    with build_node(profile, profile_path, uri=f"file:{clip}?loop=1", state_dir=state) as node:
        assert node.link is not None and node.evidence is not None and node.handoff is not None
        runner = threading.Thread(target=lambda: setattr(node, "summary", node.run(stop, duration_s=60)))
        runner.start()
        assert hub.wait_for(lambda m: any(a["stage"] == "alert" for a in _payloads(hub, "alert")), 30)
        sent = {
            "snap": make_command(hub_key, "app-node", "snapshot", {}),
            "typo": make_command(hub_key, "app-node", "zone", {"zone": "shore", "armed": "no"}),
            "bogus_zone": make_command(hub_key, "app-node", "zone", {"zone": "lake", "armed": False}),
            "disarm": make_command(hub_key, "app-node", "zone", {"zone": "shore", "armed": False}),
        }
        for envelope in sent.values():
            hub.client.publish(f"edge/app-node/cmd/{envelope['name']}", json.dumps(envelope), qos=1)
        ids = {envelope["id"]: key for key, envelope in sent.items()}

        def results() -> dict:
            return {ids[r["id"]]: r for r in _payloads(hub, "cmd_result") if r.get("id") in ids}
        assert hub.wait_for(lambda m: len(results()) == len(sent), 30), results()
        got = results()
        assert got["snap"]["ok"] and (state / "snapshots" / got["snap"]["data"]["file"]).is_file()
        assert not got["typo"]["ok"] and got["typo"]["error"].startswith("bad args: armed: ")
        assert not got["bogus_zone"]["ok"] and "unknown zone 'lake'" in got["bogus_zone"]["error"]
        assert got["disarm"]["ok"] and got["disarm"]["data"] == {"zone": "shore", "armed": False}
        for r in got.values():
            assert_valid("cmd_result", r)
        # Disarming cleared the violation; its message waited for the sealed bundle (the evidence
        # writer hands it over to the node) and carries the manifest's hash.
        assert hub.wait_for(lambda m: any(a["stage"] == "cleared" and a.get("evidence")
                                          for a in _payloads(hub, "alert")), 30)
        assert hub.wait_for(lambda m: _payloads(hub, "stats"), 10)
        stop.set()
        runner.join(30)
        assert not runner.is_alive()
    assert node.summary.frames > 0 and node.summary.stopped
    for message in _payloads(hub, "alert"):
        assert_valid("alert", message)
    assert_valid("stats", _payloads(hub, "stats")[-1])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and set(threading.enumerate()) - before:
        time.sleep(0.1)
    left = [t.name for t in set(threading.enumerate()) - before]
    assert left == [], f"threads left after teardown: {left}"
    # What the simulator reads of a node, through the node's own reader (edge.inspect), not its SQL.
    from edge.inspect import NodeState

    seen = NodeState(state)
    logged = seen.lifecycle()
    assert [m["stage"] for m in logged][:2] == ["warning", "alert"] and logged[-1]["stage"] == "cleared"
    sealed = [b for b in seen.bundles() if b.state == "sealed"]
    assert sealed and sealed[0].manifest_sha256 == logged[-1]["evidence"]
    assert seen.receipt_stats()["receipts"] >= 2 and seen.dead_letters() == 0
    assert seen.outbox_alert_ids() <= {f"{m['id']}:{m['stage']}" for m in logged}


def test_a_start_up_problem_is_one_line_and_stops_what_was_started(site):
    tmp_path, broker, hub, hub_key, state, clip = site
    profile_path = tmp_path / "node.toml"
    profile = load_profile(profile_path)
    claim_state_dir(state)
    before = set(threading.enumerate())
    (state / "keys" / "node.key").unlink()
    with pytest.raises(StartupError, match="no node signing key") as caught, \
            build_node(profile, profile_path, uri=f"file:{clip}", state_dir=state):
        pass
    assert "\n" not in str(caught.value)
    generate_keypair(state / "keys" / "node.key", state / "keys" / "node.pub", overwrite=True)
    # The file is missing: found when the source starts, after the link and the evidence recorder.
    with pytest.raises(StartupError, match="not found|No such|cannot"), \
            build_node(profile, profile_path, uri=f"file:{tmp_path / 'missing.mp4'}", state_dir=state):
        pass
    time.sleep(0.5)
    assert set(threading.enumerate()) - before == set()
