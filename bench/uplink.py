"""The field uplink on a shaped link: do alerts go ahead of evidence, and does evidence fill the link?

Two network namespaces joined by a shaped link (simulator/netrig.py: rate, one-way delay each
direction, loss, a bounded queue): the node's MQTT link and uploader in one (`NodeLink`, as the node
runs it), mosquitto, `edge-hub receive` and an alert listener in the other.  A backlog of evidence
bundles (20 MB clips, as a violation leaves) keeps the upload busy for the whole run; a lifecycle
message is made every `--alert-every` seconds.  Prints one JSON object:

- link_mbit, delay_ms, loss, tcp_congestion: the link and the node's TCP;
- alert_delay_p50_s / _p95_s / _max_s: from a lifecycle message's making (outbox commit) to its
  arrival at the hub's subscriber, for those made while evidence was being sent;
- goodput_of_link: evidence bytes the hub confirmed per second / the link's rate (payload only: the
  IP, TCP and MQTT headers are overhead), over the same span;
- link_estimate_mbit, link_rtt_s, window_bytes: what the uploader measured at the end;
- raw_tcp_of_link: one plain TCP stream over the same link first, counted after its first 2 s of
  start-up (what this machine's forwarder and CPU let through: the ceiling for anything on the link;
  at a 1500-byte MTU TCP's payload is at most 0.965 of it); load_avg_1m: how busy the machine was;
- ordering (with --order): per alert, evidence bytes in flight ahead of it, and whether it reached
  the hub before the next window of segments.

Targets (issue 22), 1 and 10 Mbit/s, 50 ms, uploads running: p95 <= 1.5 s, max <= 3 s, goodput >= 0.85.
Usage (root): nice -n 10 python bench/uplink.py --mbit 1 [--delay-ms 50] [--loss 0.01] [--duration 60]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from simulator.broker import find_tool  # noqa: E402
from simulator.netrig import HUB_ADDR, NetRig, unavailable  # noqa: E402

NODE = "rig-node"
CLIP_BYTES = 20 * 1024 * 1024
PROFILE = """
[node]
id = "{node}"
kind = "camera"

[capture]
source = "usb:0"

[link]
host = "{host}"
port = 1883
receipts = false
keepalive_s = 30
tcp_congestion = "{cc}"
reconnect = {{ initial_s = 0.5, max_s = 2 }}

[upload]
response_timeout_s = 60
{upload}
"""


# --- the node's side (in the node's namespace) -------------------------------------------------------
def role_node(args: argparse.Namespace) -> int:
    from edge.config import load_profile
    from edge.evidence import EvidenceStore
    from edge.evidence.manifest import file_entry
    from edge.link import NodeLink

    work = Path(args.work)
    state = work / "node-state"
    from edge.crypto import load_private_key

    key = load_private_key(state / "keys" / "node.key")
    profile = load_profile(work / "node.toml")
    link = NodeLink(profile, state, "bench").start()
    store = EvidenceStore(state)
    clip = work / "clip.bin"
    with open(clip, "wb") as f:
        f.write(os.urandom(CLIP_BYTES))
    backlog = int(args.mbit * 1e6 / 8 * (args.duration + 20) * 1.3)
    for i in range(max(1, -(-backlog // CLIP_BYTES))):
        name = f"b{i:03d}"
        folder = store.open(name, {"node": NODE, "rule": "bench"})
        os.link(clip, folder / "clip.mp4")  # the same bytes in every bundle: disk, not realism, is saved
        digest = store.seal(name, {"node": NODE}, [file_entry(folder, "clip.mp4", "clip")], key)
        link.queue_bundle(folder, digest)
    up = link.uploader
    deadline = time.monotonic() + 60
    while up.bytes_sent < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(args.warmup)
    alerts, started, confirmed0 = [], time.time(), up.bytes_confirmed
    (work / "alerts.started").touch()
    t0 = time.monotonic()
    k = 0
    while time.monotonic() - t0 < args.duration:
        snap = up.pace.snapshot()
        message = {"id": f"v{k:04d}", "stage": "alert", "node": NODE, "rule": "bench", "made_at": time.time(),
                   "sent_bytes": up.bytes_sent, "inflight_bytes": snap["inflight_bytes"],
                   "window_bytes": snap["window_bytes"], "segment_bytes": snap["segment_bytes"]}
        link.publish_alert(message)
        alerts.append(message)
        k += 1
        time.sleep(max(0.0, t0 + k * args.alert_every - time.monotonic()))
    elapsed = time.time() - started
    result = {"alerts": alerts, "confirmed_bytes": up.bytes_confirmed - confirmed0, "elapsed_s": elapsed,
              "stats": link.upload_stats(), "missing": up.files_missing}
    time.sleep(args.tail)  # the last alerts cross the link
    link.stop()
    store.close()
    print(json.dumps(result), flush=True)
    return 0


# --- the hub's side (in the hub's namespace) ------------------------------------------------------------
def role_listen(args: argparse.Namespace) -> int:
    """Records when each lifecycle message arrives and (with --order) how many evidence bytes came first."""
    import paho.mqtt.client as mqtt

    seen: list[dict] = []
    evidence = [0]
    segments: set[str] = set()
    again = [0]  # evidence bytes the hub got more than once
    lock = threading.Lock()

    def on_message(client, userdata, m):
        now = time.time()
        with lock:
            if m.topic.startswith("$file-async/"):
                if m.topic.count("/") == 3 and m.topic.split("/")[2] not in ("init", "fin"):
                    evidence[0] += len(m.payload)
                    if m.topic in segments:
                        again[0] += len(m.payload)
                    segments.add(m.topic)
                return
            body = json.loads(m.payload)
            seen.append({"id": body["id"], "arrived_at": now, "evidence_before": evidence[0]})

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="rig-listener", protocol=mqtt.MQTTv5)
    client.on_message = on_message
    topics = [(f"edge/{NODE}/alert", 1)] + ([("$file-async/#", 1)] if args.order else [])
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(topics)
    client.on_subscribe = lambda *a: print("subscribed", flush=True)
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    sys.stdin.read()  # until the bench closes our stdin
    client.loop_stop()
    with lock:
        print(json.dumps({"alerts": seen, "evidence_bytes": evidence[0], "resent_bytes": again[0]}), flush=True)
    return 0


# --- plain TCP over the same link: what this machine's forwarder lets through ------------------------------
SINK = """
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 5001)); s.listen()
print("ready", flush=True)
c, _ = s.accept(); n = 0; t0 = t = None; warm = float(sys.argv[1])
while True:
    d = c.recv(1 << 16)
    if not d:
        break
    now = time.monotonic()
    t0 = now if t0 is None else t0
    if t is not None:
        n += len(d)
    elif now - t0 >= warm:  # counted from here: the link's rate, not TCP's start-up ramp to it
        t = now
print(n / (time.monotonic() - t), flush=True)
"""
SOURCE = """
import socket, sys, time
s = socket.create_connection((sys.argv[1], 5001))
if sys.argv[3]:
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, sys.argv[3].encode())
end, block = time.monotonic() + float(sys.argv[2]), b"x" * (1 << 16)
while time.monotonic() < end:
    s.sendall(block)
s.close()
"""


def raw_tcp(rig: NetRig, py: str, seconds: float, cc: str) -> float:
    """Bytes per second of one plain TCP stream over the rig's link (the ceiling for anything on it)."""
    warm = min(2.0, seconds / 4)
    sink = rig.run("hub", [py, "-c", SINK, str(warm)], stdout=subprocess.PIPE, text=True)
    sink.stdout.readline()
    rig.run("node", [py, "-c", SOURCE, HUB_ADDR, str(seconds + warm), cc]).wait(seconds + warm + 30)
    return float(sink.communicate(timeout=30)[0].strip())


# --- the bench -----------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix="edge-uplink-", dir=args.workdir))
    py = sys.executable
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    upload = "\n".join(args.upload)
    (work / "node.toml").write_text(PROFILE.format(node=NODE, host=HUB_ADDR, cc=args.tcp_congestion, upload=upload))
    (work / "mosquitto.conf").write_text("\n".join([
        "listener 1883 0.0.0.0", "allow_anonymous true", "persistence false", "max_queued_messages 0",
        "max_inflight_messages 0", "set_tcp_nodelay true", f"log_dest file {work}/mosquitto.log", "user root", ""]))
    from edge.crypto import generate_keypair

    hub_dir = work / "hub"
    (hub_dir / "node-keys").mkdir(parents=True)
    generate_keypair(work / "hub.key", work / "hub.pub")
    keys = work / "node-state" / "keys"
    generate_keypair(keys / "node.key", keys / "node.pub")
    (hub_dir / "node-keys" / f"{NODE}.pub").write_bytes((keys / "node.pub").read_bytes())
    with NetRig(args.mbit, args.delay_ms, args.loss) as rig:
        if args.node_cc:
            rig.sysctl("node", "net.ipv4.tcp_congestion_control", args.node_cc)
        raw = raw_tcp(rig, py, args.raw_s, args.tcp_congestion) if args.raw_s > 0 else None
        rig.run("hub", [find_tool("mosquitto"), "-c", str(work / "mosquitto.conf")])
        time.sleep(0.5)
        common = dict(cwd=REPO, env=env, text=True)
        watch = args.order or args.outage_s > 0
        listener = rig.run("hub", [py, __file__, "--role", "listen", *(["--order"] if watch else [])],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, **common)
        if listener.stdout.readline().strip() != "subscribed":
            raise RuntimeError("the alert listener did not subscribe")
        receive_log = work / "receive.log"
        receiver = rig.run("hub", [py, "-m", "edge.cli.hub", "receive", "--broker", "127.0.0.1:1883", "--dir",
                                   str(hub_dir), "--key", str(work / "hub.key")],
                           stdout=subprocess.DEVNULL, stderr=open(receive_log, "w"), **common)  # noqa: SIM115
        deadline = time.monotonic() + 60
        while "receiving evidence on" not in receive_log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # subscribed
        node = rig.run("node", [py, __file__, "--role", "node", "--work", str(work), "--mbit", str(args.mbit),
                                "--duration", str(args.duration), "--alert-every", str(args.alert_every),
                                "--warmup", str(args.warmup), "--tail", str(args.tail)],
                       stdout=subprocess.PIPE, stderr=open(work / "node.log", "w"), **common)  # noqa: SIM115
        outage = None
        if args.outage_s > 0:  # the link drops for a while in the middle of the alerts
            while not (work / "alerts.started").exists() and node.poll() is None:
                time.sleep(0.05)
            time.sleep(args.outage_at)
            outage = (time.time(), time.time() + args.outage_s)
            rig.cut(True)
            time.sleep(args.outage_s)
            rig.cut(False)
        out, _ = node.communicate(timeout=args.duration + args.warmup + args.tail + 180)
        if node.returncode != 0:
            raise RuntimeError(f"the node side failed; see {work / 'node.log'}")
        arrived, _ = listener.communicate(input="", timeout=30)
        receiver.terminate()
        node_result = json.loads(out.strip().splitlines()[-1])
    result = summarise(args, node_result, json.loads(arrived.strip().splitlines()[-1]), rig.counts, work, outage)
    if raw is not None:  # plain TCP over the same link, --raw-s after its start-up
        result["raw_tcp_of_link"] = round(raw / (args.mbit * 1e6 / 8), 3)
    result["load_avg_1m"] = round(os.getloadavg()[0], 1)
    return result


def summarise(args, node: dict, hub_side: dict, counts: dict, work: Path, outage: tuple | None) -> dict:
    at = {a["id"]: a for a in hub_side["alerts"]}
    delays, order, held = [], [], []
    for alert in node["alerts"]:
        hub = at.get(alert["id"])
        if outage is not None and outage[0] - 5 <= alert["made_at"] <= outage[1] + 60:
            held.append(hub["arrived_at"] - alert["made_at"] if hub else float("inf"))  # around the outage
            continue
        if hub is None:
            delays.append(float("inf"))
            continue
        delays.append(hub["arrived_at"] - alert["made_at"])
        if args.order:
            order.append({"id": alert["id"], "inflight_bytes": alert["inflight_bytes"],
                          "window_bytes": alert["window_bytes"],
                          "later_evidence_ahead": hub["evidence_before"] - alert["sent_bytes"],
                          "before_next_window": hub["evidence_before"] <= alert["sent_bytes"] + alert["window_bytes"]})
    finite = sorted(d for d in delays if d != float("inf"))
    rate = args.mbit * 1e6 / 8
    stats = node["stats"]
    result = {
        "link_mbit": args.mbit, "delay_ms": args.delay_ms, "loss": args.loss,
        "tcp_congestion": args.tcp_congestion or f"system ({args.node_cc or 'default'})",
        "alerts": len(delays), "alerts_arrived": len(finite),
        "alert_delay_p50_s": round(statistics.median(finite), 3) if finite else None,
        "alert_delay_p95_s": round(finite[min(len(finite) - 1, int(0.95 * len(finite)))], 3) if finite else None,
        "alert_delay_max_s": round(max(delays), 3) if delays else None,
        "goodput_of_link": round(node["confirmed_bytes"] / node["elapsed_s"] / rate, 3),
        "link_estimate_mbit": round(stats.get("link_rate_bytes_s", 0) * 8 / 1e6, 2),
        "link_rtt_s": stats.get("link_rtt_s"), "window_bytes": stats.get("window_bytes"),
        "segment_bytes": stats.get("segment_bytes"), "upload_bytes_queued": stats.get("upload_bytes_queued"),
        "upload_oldest_wait_s": stats.get("upload_oldest_wait_s"),
        "link_lost_packets": counts.get("up", {}).get("lost"),
        "link_queue_dropped": counts.get("up", {}).get("queue_dropped"),
        "duration_s": round(node["elapsed_s"], 1),
    }
    if outage is not None:
        result.update({"outage_s": args.outage_s, "alerts_around_outage": len(held),
                       "alerts_around_outage_arrived": sum(d != float("inf") for d in held),
                       "resent_bytes_after_outage": hub_side["resent_bytes"],
                       "goodput_of_link_with_outage": result.pop("goodput_of_link")})
    if args.order:
        result["ordering"] = order
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    else:
        result["work"] = str(work)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", choices=["bench", "node", "listen"], default="bench", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--mbit", type=float, default=1.0)
    parser.add_argument("--delay-ms", type=float, default=50.0, help="one way, each direction (round trip x2)")
    parser.add_argument("--loss", type=float, default=0.0, help="packet loss, each direction (0.01: 1 %%)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of alerts while uploading")
    parser.add_argument("--alert-every", type=float, default=2.0)
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of upload before the first alert")
    parser.add_argument("--tail", type=float, default=5.0)
    parser.add_argument("--tcp-congestion", default="bbr",
                        help="the node's [link] tcp_congestion (cubic: as a Pi without BBR; '': system default)")
    parser.add_argument("--node-cc", default="", help="the node namespace's system default (reno or bbr here)")
    parser.add_argument("--upload", action="append", default=[], metavar="KEY = VALUE",
                        help="an [upload] line for the node's profile (e.g. 'window = 16')")
    parser.add_argument("--raw-s", type=float, default=8.0,
                        help="first measure one plain TCP stream over the link this long (0: no)")
    parser.add_argument("--outage-s", type=float, default=0, help="cut the link this long during the alerts")
    parser.add_argument("--outage-at", type=float, default=10, help="seconds into the alerts")
    parser.add_argument("--order", action="store_true", help="also record evidence bytes ahead of each alert")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = parser.parse_args()
    if args.role == "node":
        return role_node(args)
    if args.role == "listen":
        return role_listen(args)
    reason = unavailable()
    if reason:
        print(json.dumps({"skipped": reason}))
        return 0
    print(json.dumps(run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
