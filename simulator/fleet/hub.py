"""The fleet's hub: one local mosquitto (persistence on, autosave every second), `edge-hub listen`
storing alerts and receipting them to the nodes,
`edge-hub receive` receiving and verifying evidence, and a tap that counts every alert delivery
(to see the duplicates that at-least-once delivery brings)."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.crypto import generate_keypair
from simulator.broker import Broker

from .nodes import BIN, REPO, query


class AlertTap:
    """A persistent-session subscriber to edge/+/alert that counts deliveries and distinct (id, stage)."""

    def __init__(self, port: int, prefix: str = "edge"):
        self.deliveries = 0
        self.seen: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self.topic = f"{prefix}/+/alert"
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fleet-alert-tap", protocol=mqtt.MQTTv5)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(self.topic, qos=1)
        self.client.on_message = self._on_message
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self.client.reconnect_delay_set(0.2, 2)
        self.client.connect_async("127.0.0.1", port, clean_start=False, properties=props)
        self.client.loop_start()

    def _on_message(self, client, userdata, message) -> None:
        try:
            body = json.loads(message.payload)
            key = (str(body["id"]), str(body["stage"]))
        except (ValueError, KeyError, TypeError):
            return
        with self._lock:
            self.deliveries += 1
            self.seen.add(key)

    @property
    def duplicates(self) -> int:
        with self._lock:
            return self.deliveries - len(self.seen)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Hub:
    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.key, self.pub = root / "hub.key", root / "hub.pub"
        generate_keypair(self.key, self.pub)
        self.node_keys = root / "node-keys"
        self.evidence = root / "evidence"
        self.alerts_db = root / "alerts.db"
        self.broker = Broker(root / "broker")
        self.listen: subprocess.Popen | None = None
        self.receive: subprocess.Popen | None = None
        self.tap: AlertTap | None = None
        self.broker_starts = 0
        self.tool_starts = 0

    @property
    def port(self) -> int:
        return self.broker.port

    def start_broker(self) -> int:
        self.broker.start()
        self.broker_starts += 1
        return self.broker.proc.pid

    def stop_broker(self) -> int | None:
        """A graceful stop (SIGTERM: mosquitto saves its persistence file); returns its exit status."""
        proc = self.broker.proc
        self.broker.stop()
        return None if proc is None else proc.returncode

    def kill_broker(self) -> int | None:
        """kill -9: no persistence file written; what came since the last autosave is gone."""
        proc = self.broker.proc
        self.broker.stop(signal.SIGKILL)
        return None if proc is None else proc.returncode

    def start(self) -> None:
        self.start_broker()
        self.start_tools()
        self.tap = AlertTap(self.port)

    def start_tools(self) -> None:
        address = self.broker.address
        self.listen = self._spawn("listen", ["listen", "--broker", address, "--db", str(self.alerts_db)])
        self.receive = self._spawn("receive", ["receive", "--broker", address, "--dir", str(self.evidence),
                                               "--key", str(self.key), "--node-keys", str(self.node_keys)])
        self.tool_starts += 1

    def kill_tools(self) -> dict[str, int | None]:
        """kill -9 of `edge-hub listen` and `receive` (a hub that crashes); returns their exit status."""
        codes = {}
        for name in ("listen", "receive"):
            proc = getattr(self, name)
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
            codes[name] = None if proc is None else proc.returncode
        return codes

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        with open(self.root / f"{name}.log", "ab") as out:
            proc = subprocess.Popen([str(BIN / "edge-hub"), *args], stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                                    stdin=subprocess.DEVNULL)
        time.sleep(0.3)
        if proc.poll() is not None:
            raise RuntimeError(f"edge-hub {name} exited at once: {(self.root / f'{name}.log').read_text()[-500:]}")
        return proc

    def alive(self) -> dict[str, bool]:
        return {"listen": self.listen is not None and self.listen.poll() is None,
                "receive": self.receive is not None and self.receive.poll() is None}

    # --- what the hub has --------------------------------------------------------------------------
    def alerts(self) -> set[tuple[str, str, str]]:
        """(node, id, stage) of every lifecycle message stored, once each."""
        return {(r[0], r[1], r[2]) for r in query(self.alerts_db, "SELECT node, id, stage FROM alerts")}

    def alert_payloads(self) -> list[dict]:
        return [json.loads(r[0]) for r in query(self.alerts_db, "SELECT payload FROM alerts")]

    def bundles(self) -> dict[tuple[str, str], dict]:
        rows = query(self.evidence / "receive.db", "SELECT node, bundle, seq, manifest_sha256, state, reason FROM bundles")
        return {(r[0], r[1]): {"seq": r[2], "manifest_sha256": r[3], "state": r[4], "reason": r[5]} for r in rows}

    def stop(self) -> None:
        for proc in (self.listen, self.receive):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        if self.tap is not None:
            self.tap.close()
            self.tap = None
        self.broker.stop()
