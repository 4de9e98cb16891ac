"""Hub speak latency against a local mosquitto and a running node: prints one JSON object.

A reservoir node runs its default model on a simulated camera (so it is busy as in the field); the
hub sends signed `speak` commands one after another and times each from publishing the command to
the node's cmd_result.  The node's speaker is the file sink with `file_realtime = false`, so the
result comes as soon as playback has started and the clip is written: the time measured is an upper
bound of "command to the start of playback" (target <= 1000 ms on a local broker).

Usage: python bench/speak.py [--commands 20]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import paho.mqtt.client as mqtt  # noqa: E402

from edge.crypto import generate_keypair, load_private_key  # noqa: E402
from edge.link.commands import make_command  # noqa: E402
from simulator.broker import Broker  # noqa: E402

BIN = Path(sys.executable).parent
NODE = "reservoir-01"


def start_node(folder: Path, broker: Broker) -> subprocess.Popen:
    state = folder / "node"
    (state / "keys").mkdir(parents=True)
    shutil.copy(folder / "hub.pub", state / "keys" / "hub.pub")
    subprocess.run([str(BIN / "edge-node"), "keys", "init", "--state-dir", str(state)], check=True,
                   capture_output=True)
    scenario = REPO / "simulator" / "scenarios" / "reservoir_day_angler.toml"
    cmd = [str(BIN / "edge-node"), "run", "--config", str(REPO / "firmware_config" / "reservoir.toml"),
           "--source", f"sim:{scenario}?loop=1", "--state-dir", str(state),
           "--set", 'link.host="127.0.0.1"', "--set", f"link.port={broker.port}",
           "--set", 'speaker.sink="file"', "--set", f'speaker.out_dir="{state / "speaker"}"',
           "--set", "speaker.file_realtime=false",
           "--set", "speaker.max_per_minute=1000"]  # the field limit (10 a minute) would refuse most
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(folder / "node.log", "w"),  # noqa: SIM115
                            env={**os.environ, "EDGE_MQTT_PASSWORD": "bench"}, cwd=REPO)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=20)
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="edge-bench-speak-"))
    broker = Broker(folder / "broker").start()
    node = None
    try:
        generate_keypair(folder / "hub.key", folder / "hub.pub")
        key = load_private_key(folder / "hub.key")
        inbox: queue.Queue = queue.Queue()
        hub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-hub", protocol=mqtt.MQTTv5)
        hub.on_message = lambda c, u, m: inbox.put((m.topic, m.payload, time.perf_counter()))
        hub.connect("127.0.0.1", broker.port)
        hub.subscribe([(f"edge/{NODE}/status", 1), (f"edge/{NODE}/cmd_result", 1)])
        hub.loop_start()
        node = start_node(folder, broker)
        print("waiting for the node to come online...", file=sys.stderr)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                topic, payload, _ = inbox.get(timeout=1)
            except queue.Empty:
                continue
            if topic.endswith("/status") and json.loads(payload).get("state") == "online":
                break
        else:
            raise SystemExit(f"the node did not come online; see {folder / 'node.log'}")
        time.sleep(3)  # the detector is running
        samples, failures = [], []
        print(f"{args.commands} speak commands...", file=sys.stderr)
        for _ in range(args.commands):
            envelope = make_command(key, NODE, "speak", {"clip": "cooperate"}, lifetime_s=60)
            sent = time.perf_counter()
            hub.publish(f"edge/{NODE}/cmd/speak", json.dumps(envelope), qos=1)
            while True:
                topic, payload, at = inbox.get(timeout=30)
                result = json.loads(payload)
                if topic.endswith("/cmd_result") and result.get("id") == envelope["id"]:
                    break
            if result.get("ok"):
                samples.append((at - sent) * 1000)
            else:
                failures.append(result.get("error"))
            time.sleep(0.5)
        hub.loop_stop()
        hub.disconnect()
    finally:
        if node is not None:
            node.terminate()
            node.wait(30)
        broker.stop()
    samples.sort()
    print(json.dumps({
        "commands": args.commands, "played": len(samples), "failures": failures,
        "command_to_played_p50_ms": round(statistics.median(samples), 1) if samples else None,
        "command_to_played_max_ms": round(samples[-1], 1) if samples else None,
        "target_ms": 1000,
    }))
    shutil.rmtree(folder, ignore_errors=True)
    return 0 if samples and not failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
