"""Evidence upload benchmark against a local mosquitto: prints one JSON object.

- goodput_ratio: the uploader's goodput (file bytes per second, from queueing the file to the
  receiver's confirmation of the assembled, checksum-verified file; the receiver is `edge-hub
  receive` in its own process, as at a hub) / a plain paho QoS 1 publish of the same bytes in the
  same segment sizes to a plain subscriber, timed until it has them all (target >= 0.8): the
  median over pairs of the two run a moment apart, with the node's default [upload] window; also
  with the receiver in this process, sharing its interpreter lock with the uploader;
- resent_bytes_after_disconnect: bytes the receiver got more than once when the node's connection
  is cut (socket shut down, no goodbye) at 50% of an upload (target <= one segment).

Usage: python bench/upload.py [--mbytes 32] [--segment 262144] [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import paho.mqtt.client as mqtt  # noqa: E402

from edge.config.upload import UploadConfig  # noqa: E402
from edge.crypto import generate_keypair  # noqa: E402
from edge.evidence import EvidenceStore  # noqa: E402
from edge.evidence.manifest import file_entry  # noqa: E402
from edge.hub.receive import Receiver  # noqa: E402
from edge.link.mqtt import LinkSettings, MqttLink, nodelay  # noqa: E402
from edge.link.outbox import Outbox  # noqa: E402
from edge.link.topics import Topics  # noqa: E402
from edge.link.upload import Uploader, UploadStore  # noqa: E402
from simulator.broker import Broker  # noqa: E402


class HubThread:
    """The receiver with its own MQTT client, in this process so its counters can be read."""

    def __init__(self, broker: Broker, root: Path):
        self.inbox: queue.Queue = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-receiver", protocol=mqtt.MQTTv5)
        self.client.on_message = lambda c, u, m: self.inbox.put((m.topic, m.payload))
        self.client.on_connect = lambda c, u, f, rc, p: (nodelay(c), c.subscribe([("$file-async/#", 1)]))
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        self.receiver = Receiver(root, root / "node-keys", None,
                                 lambda topic, payload: self.client.publish(topic, payload, qos=1))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        time.sleep(0.5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                topic, payload = self.inbox.get(timeout=0.1)
            except queue.Empty:
                continue
            self.receiver.handle(topic, payload)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.client.loop_stop()


class HubProcess:
    """`edge-hub receive` in its own process, as deployed (the hub is another machine): the node's
    uploader and the receiver do not share one interpreter lock."""

    def __init__(self, broker: Broker, root: Path):
        import subprocess

        root.mkdir(parents=True)
        generate_keypair(root / "hub.key", root / "hub.pub")
        self.proc = subprocess.Popen([str(Path(sys.executable).parent / "edge-hub"), "receive", "--broker",
                                      broker.address, "--dir", str(root), "--key", str(root / "hub.key")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for line in self.proc.stderr:
            if "receiving evidence" in line:
                break
        time.sleep(0.5)  # subscribed

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def make_bundle(folder: Path, size: int) -> tuple[Path, str]:
    key = generate_keypair(folder / "k", folder / "k.pub")
    store = EvidenceStore(folder / "state")
    bundle = store.open("bench", {"node": "bench"})
    with open(bundle / "clip.mp4", "wb") as f:
        f.write(os.urandom(size))
    digest = store.seal("bench", {"node": "bench"}, [file_entry(bundle, "clip.mp4", "clip")], key)
    store.close()
    return bundle, digest


def upload_once(broker: Broker, folder: Path, bundle: Path, digest: str, segment: int, cut_at: float | None):
    outbox = Outbox(folder / "outbox.db")
    settings = LinkSettings("127.0.0.1", broker.port, f"edge-bench-{time.monotonic_ns()}",
                            reconnect_initial_s=0.1, reconnect_max_s=0.5, subscriptions=[])
    link = MqttLink(settings, Topics("edge", "bench"), outbox, version="bench")
    settings.subscriptions.append(f"$file-response/{settings.client_id}")
    store = UploadStore(folder / f"upload-{time.monotonic_ns()}.db")
    uploader = Uploader(link, store, node="bench", segment_bytes=segment, window=UploadConfig().window)
    link.on_message = lambda topic, payload: uploader.on_response(payload)
    link.start()
    link.connected.wait(10)
    uploader.start()
    size = (bundle / "clip.mp4").stat().st_size
    started = time.perf_counter()
    store.add_bundle("bench", bundle, digest, 1)
    uploader.wake()
    cut = False
    while uploader.files_done < 3:  # manifest.json, manifest.sig, clip.mp4
        if cut_at is not None and not cut and uploader.bytes_sent >= cut_at * size:
            link.client.socket().shutdown(socket.SHUT_RDWR)  # the link drops, no goodbye
            cut = True
        time.sleep(0.002)
    elapsed = time.perf_counter() - started
    uploader.stop()
    link.stop()
    outbox.close()
    store.close()
    return size / elapsed


def raw_publish(broker: Broker, data: bytes, segment: int) -> float:
    """Plain paho: the same bytes in the same segments, QoS 1, to a plain subscriber (as the hub
    is one), timed until the subscriber has them all."""
    done = threading.Event()
    got = [0]

    def on_message(client, userdata, message):
        got[0] += len(message.payload)
        if got[0] >= len(data):
            done.set()

    sink = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-raw-sink", protocol=mqtt.MQTTv5)
    sink.on_message = on_message
    sink.on_connect = lambda c, u, f, rc, p: nodelay(c)
    sink.connect("127.0.0.1", broker.port)
    sink.subscribe("bench/raw/#", qos=1)
    sink.loop_start()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-raw", protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(16)
    client.on_connect = lambda c, u, f, rc, p: nodelay(c)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    while not (client.is_connected() and sink.is_connected()):
        time.sleep(0.01)
    time.sleep(0.3)
    started = time.perf_counter()
    for offset in range(0, len(data), segment):
        client.publish(f"bench/raw/{offset}", data[offset:offset + segment], qos=1)
    done.wait(300)
    elapsed = time.perf_counter() - started
    for c in (client, sink):
        c.loop_stop()
        c.disconnect()
    return len(data) / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mbytes", type=float, default=32)
    parser.add_argument("--segment", type=int, default=UploadConfig().segment_bytes)
    parser.add_argument("--rounds", type=int, default=7, help="pairs of a raw publish and an upload")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="edge-bench-upload-"))
    size = int(args.mbytes * 1024 * 1024)
    broker = Broker(folder / "broker").start()
    try:
        bundle, digest = make_bundle(folder, size)
        data = (bundle / "clip.mp4").read_bytes()
        hub = HubProcess(broker, folder / "hub")
        # Pairs of a raw publish and an upload, a moment apart: this machine is shared and its speed
        # changes for seconds at a time, so the ratio is the median of the pairs' ratios.
        raws, goodputs = [], []
        for round_no in range(args.rounds):
            print(f"pair {round_no + 1}/{args.rounds}: raw QoS 1 publish of {args.mbytes:g} MB, then the upload "
                  "(receiver in its own process)...", file=sys.stderr)
            raws.append(raw_publish(broker, data, args.segment))
            goodputs.append(upload_once(broker, folder, bundle, digest, args.segment, None))
        raw, goodput = statistics.median(raws), statistics.median(goodputs)
        ratios = sorted(g / r for g, r in zip(goodputs, raws, strict=True))
        hub.close()
        hub = HubThread(broker, folder / "hub1")
        print("upload (receiver in this process)...", file=sys.stderr)
        goodput_shared = upload_once(broker, folder, bundle, digest, args.segment, None)
        hub.close()
        hub = HubThread(broker, folder / "hub2")
        print("upload with the link cut at 50%...", file=sys.stderr)
        upload_once(broker, folder, bundle, digest, args.segment, 0.5)
        received = hub.receiver.segment_bytes_received
        hub.close()
        manifest_bytes = sum((bundle / n).stat().st_size for n in ("manifest.json", "manifest.sig"))
        resent = received - size - manifest_bytes
    finally:
        broker.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps({
        "bytes": size, "segment_bytes": args.segment,
        "raw_publish_mb_s": round(raw / 1e6, 2), "upload_goodput_mb_s": round(goodput / 1e6, 2),
        "goodput_ratio": round(statistics.median(ratios), 3), "goodput_ratio_target": 0.8, "pairs": args.rounds,
        "goodput_ratio_quartiles": [round(ratios[len(ratios) // 4], 3), round(ratios[3 * len(ratios) // 4], 3)],
        "raw_publish_mb_s_pairs": [round(r / 1e6) for r in raws],
        "upload_goodput_mb_s_pairs": [round(g / 1e6) for g in goodputs],
        "goodput_ratio_receiver_in_process": round(goodput_shared / raw, 3),  # against the median raw
        "resent_bytes_after_disconnect": resent, "resent_target_bytes": args.segment,
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
