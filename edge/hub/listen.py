"""`edge-hub listen`: receive every node's lifecycle messages and status, once each.

Delivery from the nodes is at least once; the store keeps one row per (id, stage) and only new
rows are printed.  Every lifecycle message, new or a redelivery, is receipted to its node once it is
committed (edge.hub.receipts): the node keeps it until then.  With --shared GROUP the subscription is an MQTT 5 shared subscription
($share/GROUP/...), so several listeners behind one broker or an EMQX cluster split the load.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import queue
import signal
import sys
import threading
import time
from collections import deque
from datetime import datetime

from ..contract.receipt import hub_boot_announcement
from ..contract.topics import HubTopics
from .connection import connect
from .receipts import ReceiptBatcher
from .settings import ListenSettings
from .store import AlertStore


def describe(m: dict) -> str:
    objects = ", ".join(o.get("class", "?") for o in m.get("objects", []))
    when = m.get("confirmed_at") or m.get("warned_at") or m.get("ts") or ""
    with contextlib.suppress(ValueError):
        when = datetime.fromisoformat(when).strftime("%H:%M:%S")
    extra = f" ({m['reason']})" if m.get("reason") else ""
    return (f"{when} {m.get('node', '?'):14} {m.get('stage', '?').upper():7} {m.get('kind', '?')} in "
            f"{m.get('zone', '?')} [{m.get('rule', '?')}] {objects}{extra}  id={m.get('id')}")


def cmd_listen(args: argparse.Namespace) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return listen(ListenSettings.from_args(args), stop)


def listen(settings: ListenSettings, stop: threading.Event | None = None) -> int:
    """Store and print lifecycle messages and statuses until `stop`, `count` or `duration`; the
    exit status (2: no broker).  Runs on the calling thread."""
    stop = stop or threading.Event()
    store = AlertStore(settings.db)
    inbox: queue.Queue = queue.Queue()
    hub = HubTopics(settings.broker.prefix)
    topics = [hub.shared(settings.shared, t) for t in (hub.alerts, hub.statuses)]
    try:
        client = connect(settings.broker, "edge-hub-listen", persistent=True, subscriptions=tuple(topics),
                         on_message=lambda c, u, m: inbox.put((m.topic, m.payload)), wait_for_broker=True,
                         announce=hub_boot_announcement(settings.broker.prefix))
    except ConnectionError as exc:
        print(f"edge-hub: {exc}", file=sys.stderr)
        return 2
    last: deque = deque(maxlen=64)  # the latest receipts on their way, to let them leave at the end
    receipts = ReceiptBatcher(lambda topic, payload: last.append(client.publish(topic, payload, qos=1)),
                              settings.broker.prefix)
    print(f"edge-hub: listening on {settings.broker.broker} ({', '.join(topics)}); storing in {settings.db}",
          file=sys.stderr, flush=True)
    started, new = time.monotonic(), 0
    try:
        while not stop.is_set():
            if settings.duration is not None and time.monotonic() - started >= settings.duration:
                break
            if settings.count is not None and new >= settings.count:
                break
            receipts.flush()
            try:
                topic, payload = inbox.get(timeout=0.05)
            except queue.Empty:
                continue
            try:
                message = json.loads(payload)
            except ValueError:
                print(f"edge-hub: ignored a message on {topic} that is not JSON", file=sys.stderr)
                continue
            if not isinstance(message, dict):
                continue
            where = hub.split(topic)
            if where is None:
                continue
            node, leaf = where
            if leaf == "status":
                if store.set_status(node, message):
                    print(f"{time.strftime('%H:%M:%S')} {node:14} {str(message.get('state', '?')).upper()}", flush=True)
            elif isinstance(message.get("id"), str) and message.get("stage") in ("warning", "alert", "cleared"):
                if node != message.get("node", node):
                    print(f"edge-hub: ignored a message of node {message.get('node')!r} on {topic}",
                          file=sys.stderr)
                    continue
                if store.add(message):
                    new += 1
                    print(describe(message), flush=True)
                receipts.stored(node, message["id"], message["stage"])
    finally:
        receipts.flush(force=True)
        deadline = time.monotonic() + 2.0  # let the last receipts leave
        for info in last:
            info.wait_for_publish(max(0.0, deadline - time.monotonic()))
        client.loop_stop()
        client.disconnect()
        store.close()
    return 0


def add_listen(sub: argparse._SubParsersAction, common) -> None:
    p = sub.add_parser("listen", parents=[common], help="print and store alerts as they arrive (de-duplicated)")
    p.add_argument("--db", default="hub-alerts.db", help="SQLite file for alerts and node status")
    p.add_argument("--shared", metavar="GROUP", help="use a shared subscription $share/GROUP/... (scale out)")
    p.add_argument("--count", type=int, help="stop after this many new lifecycle messages")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.set_defaults(func=cmd_listen)
