"""Scale-out: three `edge-hub serve` workers on one shared subscription and one PostgreSQL; one is
killed with SIGKILL mid-run; the node (like the real outbox) sends again whatever has no receipt;
every message ends up stored exactly once and receipted, each violation in one incident."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import paho.mqtt.client as mqtt
import psycopg

from .conftest import REPO
from .hub_rig import lifecycle, unique_prefix, write_config

N_VIOLATIONS = 150
STAGES = ("warning", "alert", "cleared")


class Node:
    """Publishes lifecycle messages and keeps each until its receipt arrives."""

    def __init__(self, broker, prefix: str):
        self.prefix = prefix
        self.receipted: set[tuple[str, str]] = set()
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{prefix}-node", protocol=mqtt.MQTTv5)
        self.client.on_message = self._receipt
        self.client.connect("127.0.0.1", broker.port)
        self.client.subscribe(f"{prefix}/n1/receipt", qos=1)
        self.client.loop_start()
        time.sleep(0.3)

    def _receipt(self, client, userdata, m):
        with self.lock:
            self.receipted |= {(i["id"], i["stage"]) for i in json.loads(m.payload)["items"]}

    def send(self, message: dict) -> None:
        self.client.publish(f"{self.prefix}/n1/alert", json.dumps(message), qos=1)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_three_workers_one_killed_mid_run_store_every_message_once(tmp_path, mosquitto, postgres):
    prefix = unique_prefix()
    url = postgres.create_db(f"scale_{prefix}")
    config = write_config(tmp_path / "hub", url=url, broker_port=mosquitto.port, prefix=prefix, group=prefix)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    workers = [subprocess.Popen([sys.executable, "-m", "edge.cli.hub", "serve", "--config", str(config),
                                 "--client-id", f"{prefix}-w{i}", "--no-api",
                                 *(["--no-evidence"] if i else [])], cwd=REPO, env=env,
                                stdout=subprocess.DEVNULL, stderr=open(tmp_path / f"w{i}.log", "w"))  # noqa: SIM115
               for i in range(3)]
    node = Node(mosquitto, prefix)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all("serving" in (tmp_path / f"w{i}.log").read_text()
                                                      for i in range(3)):
            time.sleep(0.1)
        messages = [lifecycle(f"v{i:04d}", stage, zone=f"z{i}") for i in range(N_VIOLATIONS) for stage in STAGES]
        for n, m in enumerate(messages):
            node.send(m)
            if n == len(messages) // 2:
                workers[1].send_signal(signal.SIGKILL)  # mid-run, with messages in its hands
            time.sleep(0.004)
        assert workers[1].wait(10) == -signal.SIGKILL
        wanted = {(m["id"], m["stage"]) for m in messages}
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            time.sleep(2.0)
            with node.lock:
                missing = wanted - node.receipted
            if not missing:
                break
            for m in messages:  # what the node's outbox does: send again until the receipt comes
                if (m["id"], m["stage"]) in missing:
                    node.send(m)
        assert wanted == node.receipted
        with psycopg.connect(url) as conn:
            rows = conn.execute("SELECT id, stage FROM messages").fetchall()
            per_incident = conn.execute("SELECT messages, violations FROM incidents").fetchall()
            links = conn.execute("SELECT count(*), count(DISTINCT incident) FROM violations").fetchone()
        assert len(rows) == len(wanted) and set(rows) == wanted  # stored once each
        assert len(per_incident) == N_VIOLATIONS and set(per_incident) == {(3, 1)}
        assert links == (N_VIOLATIONS, N_VIOLATIONS)
        for i in (0, 2):
            assert "Traceback" not in (tmp_path / f"w{i}.log").read_text()
    finally:
        node.close()
        for w in workers:
            if w.poll() is None:
                w.terminate()
                w.wait(15)
