"""The node's health file (edge.health): what its report line says, as JSON in the state folder, read
through edge.inspect.NodeState.health() by the simulator's tour and fleet instead of the log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from edge.inspect import NodeState

from .broker import Broker
from .conftest import BIN, PROFILES, REPO, run_cli


def wait_health(state: NodeState, predicate, timeout: float = 30.0) -> dict:
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        last = state.health()
        if last.body is not None and predicate(last.body):
            return last.body
        time.sleep(0.2)
    raise AssertionError(f"the health file never matched; last read: {last}")


def test_the_health_file_follows_the_link_down_and_ends_with_the_frame_count(level_clip, tmp_path):
    broker = Broker(tmp_path / "broker").start()
    folder = tmp_path / "state"
    assert run_cli("edge-node", "keys", "init", "--state-dir", str(folder)).returncode == 0
    env = {**os.environ, "EDGE_MQTT_PASSWORD": "unused"}
    node = subprocess.Popen([str(BIN / "edge-node"), "run", "--config", str(PROFILES / "reservoir.toml"),
                             "--source", f"file:{level_clip}?loop=1", "--state-dir", str(folder),
                             "--set", 'link.host="127.0.0.1"', "--set", f"link.port={broker.port}"],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    state = NodeState(folder)
    try:
        up = wait_health(state, lambda h: h["pid"] == node.pid and h["link_up"] is True)
        assert up["source"] == "streaming" and up["frames"] > 0 and up["outbox"] is not None
        assert up["stopped"] is False and up["healthy"] is True
        broker.stop(signal.SIGKILL)  # the hub's broker dies: the next reports say the link is down
        down = wait_health(state, lambda h: h["link_up"] is False)
        assert down["seq"] > up["seq"] and down["frames"] >= up["frames"] and down["source"] == "streaming"
        broker.start()
        wait_health(state, lambda h: h["link_up"] is True and h["seq"] > down["seq"])
        node.send_signal(signal.SIGTERM)
        _, err = node.communicate(timeout=30)
    finally:
        node.kill()
        broker.stop()
    assert node.returncode == 0, err[-3000:]
    end = state.health().body
    assert end["stopped"] is True and end["frames_at_stop"] > 0 and end["fps_average"] > 0
    assert f"stopped after {end['frames_at_stop']} frames" in err  # the log line and the file agree
    assert not list(folder.glob("health.json.part")), "no temporary file is left behind"


def test_a_missing_torn_or_foreign_health_file_reads_as_none_with_the_reason(tmp_path):
    state = NodeState(tmp_path)
    missing = state.health()
    assert missing.body is None and "no health file" in missing.problem and missing["link_up"] is None
    path = tmp_path / "health.json"
    whole = json.dumps({"wall": 1.0, "pid": 1, "seq": 3, "source": "streaming", "link_up": False, "outbox": 2})
    path.write_text(whole[: len(whole) // 2])  # cut off, as by a writer that did not rename
    torn = state.health()
    assert torn.body is None and "not a whole JSON report" in torn.problem and str(path) in torn.problem
    path.write_text('["a list"]')
    assert "not a node health report" in state.health().problem
    path.write_text(whole)
    good = state.health()
    assert good.problem is None and good["outbox"] == 2 and good["link_up"] is False


def test_a_health_file_that_cannot_be_written_is_said_once_and_its_return_once(tmp_path, caplog):
    from edge.health import HealthFile

    state = tmp_path / "state"  # not there yet: every write fails as on a lost or full disk
    health = HealthFile(state)
    with caplog.at_level("WARNING", logger="edge.health"):
        for _ in range(5):
            health.write({"link_up": True})
        assert len(caplog.records) == 1 and "the report line goes on" in caplog.records[0].getMessage()
        state.mkdir()
        health.write({"link_up": True})
        health.write({"link_up": True})
    assert [r.getMessage().endswith("written again") for r in caplog.records] == [False, True]
    assert json.loads((state / "health.json").read_text())["seq"] == 7
