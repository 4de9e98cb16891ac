"""Issue 21, done when: the whole field loop on the simulator with a real mosquitto and two nodes.

capture on a node -> `edge-hub dataset pull` -> export -> labels corrected by a script -> import ->
fine-tune a few iterations -> sign -> roll out to two nodes: node B gets a deliberately broken
model, fails its self-test and stays on its model; node A switches.  Alerts before and after name
their models.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import pytest

from edge.crypto import generate_keypair

from .broker import Broker, Subscriber
from .conftest import BIN, REPO
from .fieldloop_rig import DEFAULT, FileServer, broken_copy

SCENARIO = """
[scenario]
name = "fieldloop_loop"
site = "reservoir"
seed = 2101
duration_s = 24
fps = 5
size = [640, 360]
start = 2026-04-10T09:00:00+08:00
lighting = "day"

[camera]
noise = 2.0

[[actors]]
id = "visitor"
kind = "person"
path = [[0, 0.42, 0.70], [14, 0.42, 0.70], [16, 0.44, 0.95], [24, 1.05, 0.95]]

[[actors]]
id = "walker"
kind = "person"
path = [[0, 0.80, 0.70], [12, 0.70, 0.70], [14, 0.70, 0.95], [24, -0.05, 0.95]]
"""

PROFILE = """
[node]
id = "{node}"
kind = "camera"
site = "{site}"

[capture]
source = "usb:0"

[link]
host = "127.0.0.1"
port = {port}
stats_interval_s = 2
reconnect = {{ initial_s = 0.1, max_s = 0.5 }}

[upload]
segment_bytes = 65536
response_timeout_s = 5

[detect]
model = "{model}"
threads = 1
motion = {{ enabled = false }}

[evidence]
enabled = false

[speaker]
sink = "none"

[dataset]
enabled = true
min_interval_s = 1
near_threshold = 0.7

[rollout]
self_test_frames = 3

[[zones]]
name = "bank"
polygon = [[0.0, 0.55], [1.0, 0.55], [1.0, 0.85], [0.0, 0.85]]

[[rules]]
name = "no_entry"
kind = "intrusion"
zones = ["bank"]
classes = ["person"]
dwell_s = 2
recheck_s = 2
clear_after_s = 2
"""


def wait(predicate, timeout: float, step: float = 0.5) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def hub(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "edge-hub"), *args], capture_output=True, text=True, timeout=timeout, cwd=REPO)


def alerts(sub: Subscriber, node: str) -> list[dict]:
    out = []
    for topic, payload, _ in list(sub.messages):
        if topic == f"edge/{node}/alert":
            out.append(json.loads(payload))
    return out


@pytest.mark.timeout(420)
def test_capture_pull_export_finetune_sign_rollout_and_rollback(tmp_path):
    broker = Broker(tmp_path / "broker").start()
    procs: list[subprocess.Popen] = []
    server = None
    try:
        generate_keypair(tmp_path / "hub.key", tmp_path / "hub.pub")
        hub_dir = tmp_path / "hub"
        (hub_dir / "node-keys").mkdir(parents=True)
        (tmp_path / "scene.toml").write_text(SCENARIO)
        nodes = {"node-a": "east bank", "node-b": "west bank"}
        for node, site in nodes.items():
            state = tmp_path / node
            generate_keypair(state / "keys" / "node.key", state / "keys" / "node.pub")
            shutil.copy(tmp_path / "hub.pub", state / "keys" / "hub.pub")
            shutil.copy(state / "keys" / "node.pub", hub_dir / "node-keys" / f"{node}.pub")
            (tmp_path / f"{node}.toml").write_text(PROFILE.format(node=node, site=site, port=broker.port,
                                                                 model=DEFAULT))
        sub = Subscriber(broker, ["edge/+/alert", "edge/+/status", "edge/+/stats"])
        assert wait(lambda: sub.ready, 10)
        log = tmp_path / "receive.log"
        procs.append(subprocess.Popen(
            [str(BIN / "edge-hub"), "receive", "--broker", broker.address, "--dir", str(hub_dir),
             "--key", str(tmp_path / "hub.key")], cwd=REPO, stdout=subprocess.DEVNULL,
            stderr=open(log, "a")))  # noqa: SIM115 (the child keeps it)
        assert wait(lambda: log.exists() and "receiving evidence on" in log.read_text(), 30)
        for node in nodes:
            procs.append(subprocess.Popen(
                [str(BIN / "edge-node"), "run", "--config", str(tmp_path / f"{node}.toml"), "--state-dir",
                 str(tmp_path / node), "--source", f"sim:{tmp_path / 'scene.toml'}?loop=1", "--duration", "900"],
                cwd=REPO, stdout=subprocess.DEVNULL,
                stderr=open(tmp_path / f"{node}.log", "w")))  # noqa: SIM115

        def frames_kept(node: str) -> int:
            return len(list((tmp_path / node / "dataset" / "frames").glob("*.jpg")))

        # 1. capture on the nodes; the first alerts name the shipped model
        assert wait(lambda: frames_kept("node-a") >= 8 and all(
            any(a["stage"] == "alert" for a in alerts(sub, n)) for n in nodes), 90), \
            (tmp_path / "node-a.log").read_text()[-3000:]
        first = [a for a in alerts(sub, "node-a") if a["stage"] == "alert"][0]
        assert first["model"]["name"] == "edge-default" and first["model"]["version"] == "1"

        # 2. pull to the hub (uploaded like evidence, filed as training data)
        pulled = hub("dataset", "pull", "node-a", "--broker", broker.address, "--key", str(tmp_path / "hub.key"))
        assert pulled.returncode == 0, pulled.stderr
        pack = json.loads(pulled.stdout.splitlines()[0])
        assert pack["ok"] and pack["data"]["frames"] >= 8
        frames_dir = hub_dir / "dataset" / "frames" / "node-a"
        assert wait(lambda: len(list(frames_dir.glob("*.jpg"))) == pack["data"]["frames"], 60), log.read_text()

        # 3. export, corrections by a script standing in for a person, import, export again
        out = tmp_path / "export"
        exported = hub("dataset", "export", "--root", str(hub_dir), "--out", str(out), "--val-percent", "50",
                       "--block-s", "3")
        assert exported.returncode == 0, exported.stderr
        corrected = tmp_path / "corrected"
        corrected.mkdir()
        for label in (out / "labels").glob("*/*.txt"):  # the "person": keeps the person boxes only
            keep = [ln for ln in label.read_text().splitlines() if ln.startswith("0 ")]
            (corrected / label.name).write_text("".join(f"{ln}\n" for ln in keep))
        imported = hub("dataset", "import", "--root", str(hub_dir), "--labels", str(corrected))
        assert imported.returncode == 0, imported.stderr
        out2 = tmp_path / "export2"
        counts = json.loads(hub("dataset", "export", "--root", str(hub_dir), "--out", str(out2),
                                "--val-percent", "50", "--block-s", "3").stdout)
        assert counts["corrected"] == counts["train"] + counts["val"] and counts["val"] and counts["train"]

        # 4. fine-tune a few iterations from the shipped model
        ft = tmp_path / "models" / "ft"
        trained = subprocess.run(
            ["nice", "-n", "15", sys.executable, "-m", "models.train", "--data", str(out2 / "data.yaml"),
             "--init", str(DEFAULT), "--out", str(ft), "--iters", "2", "--batch", "2", "--lr", "1e-5", "--threads", "1"],
            capture_output=True, text=True, timeout=240, cwd=REPO)
        assert trained.returncode == 0, trained.stderr[-2000:]
        manifest = json.loads((ft / "manifest.json").read_text())
        assert manifest["name"] == "edge-default-ft" and manifest["version"] == "2"
        assert "map50_before" in manifest["metrics"] and (ft / "MODEL_CARD.md").exists()

        # 5. sign, and roll out: node-a gets the fine-tune, node-b a broken model
        bad = broken_copy(tmp_path / "models" / "bad")
        for folder in (ft, bad):
            assert hub("model", "sign", str(folder), "--key", str(tmp_path / "hub.key")).returncode == 0
        server = FileServer(tmp_path / "models")
        common = ["--broker", broker.address, "--key", str(tmp_path / "hub.key"), "--timeout", "120"]
        good = hub("model", "rollout", "node-a", "--folder", str(ft), "--url", f"{server.url}/ft/model.onnx", *common)
        assert good.returncode == 0, good.stdout + good.stderr
        result = json.loads(good.stdout)["data"]
        assert result["switched"] and result["model"]["sha256"] == manifest["sha256"]
        broken = hub("model", "rollout", "node-b", "--folder", str(bad), "--url", f"{server.url}/bad/model.onnx",
                     *common)
        assert broken.returncode == 1, broken.stdout + broken.stderr
        reply = json.loads(broken.stdout)
        assert "self-test" in reply["error"] and not reply["data"]["switched"]

        # 6. the alerts after the switch name their models
        seen = {n: {a["id"] for a in alerts(sub, n)} for n in nodes}  # violations begun before the switch

        def after(node: str) -> list[dict]:
            return [a for a in alerts(sub, node) if a["stage"] == "alert" and a["id"] not in seen[node]]

        assert wait(lambda: after("node-a") and after("node-b"), 60)
        assert after("node-a")[-1]["model"] == {"name": "edge-default-ft", "version": "2", "sha256": manifest["sha256"]}
        assert after("node-b")[-1]["model"]["name"] == "edge-default"
        stats = [json.loads(p) for t, p, _ in sub.messages if t == "edge/node-a/stats"]
        assert stats[-1]["model"]["version"] == "2"
        status = [json.loads(p) for t, p, _ in sub.messages if t == "edge/node-b/status"]
        assert status[-1]["model"]["name"] == "edge-default"
    finally:
        if server is not None:
            server.close()
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        broker.stop()
