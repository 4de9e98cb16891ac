"""`edge-sim officers`: officers' devices (phones or body-worn recorders with GPS) for the hub.

Each simulated officer reports a position on `{prefix}/officer/{id}/position`, takes the hub's task
from `{prefix}/officer/{id}/task` (refusing one whose signature does not verify with the hub's
public key), reports `accepted`, walks to the incident in a straight line, reports `on_scene` on
arrival and `done` a little later, on `{prefix}/officer/{id}/task_state`.  `time_scale` makes them
walk faster than real time for tests and the demo.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import paho.mqtt.client as mqtt

from edge.crypto import canonical_json, load_public_key, unb64, verify

ARRIVED_M = 15.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class Officer:
    id: str
    lat: float
    lon: float
    task: dict | None = None
    state: str = "idle"  # idle | walking | on_scene
    arrived: float = 0.0
    history: list[str] = field(default_factory=list)


class OfficerSim:
    def __init__(self, address: str, officers: list[Officer], hub_public_key, *, prefix: str = "edge",
                 speed_mps: float = 5.0, time_scale: float = 1.0, tick_s: float = 0.2, on_scene_s: float = 1.0,
                 report_s: float = 1.0, on_event=None):
        self.address, self.officers, self.key, self.prefix = address, {o.id: o for o in officers}, hub_public_key, prefix
        self.speed_mps, self.time_scale, self.tick_s, self.on_scene_s = speed_mps, time_scale, tick_s, on_scene_s
        self.report_s = report_s  # how often each device reports its position (a phone's GPS rate)
        self.on_event = on_event or (lambda officer, text: None)
        self.refused = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"edge-sim-officers-{prefix}",
                                  protocol=mqtt.MQTTv5)
        self.subscribed = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"{prefix}/officer/+/task", qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()
        self.client.on_message = self._on_task
        self._thread = threading.Thread(target=self._run, name="officers", daemon=True)

    def start(self, timeout: float = 10.0) -> OfficerSim:
        """Connected and subscribed to the tasks when it returns."""
        host, _, port = self.address.rpartition(":")
        self.client.connect(host, int(port))
        self.client.loop_start()
        if not self.subscribed.wait(timeout):
            raise OSError(f"the broker at {self.address} did not take the task subscription")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.client.loop_stop()
        self.client.disconnect()

    # --- the hub's tasks ---------------------------------------------------------------------------
    def _on_task(self, client, userdata, m) -> None:
        officer_id = m.topic.split("/")[-2]
        try:
            task = json.loads(m.payload)
            body = {k: v for k, v in task.items() if k != "sig"}
            ok = verify(self.key, unb64(task["sig"]), canonical_json(body)) and task["officer"] == officer_id
        except (ValueError, KeyError, TypeError):
            ok = False
        with self._lock:
            officer = self.officers.get(officer_id)
            if officer is None:
                return
            if not ok:
                self.refused += 1
                self.on_event(officer_id, "refused a task that is not signed by the hub")
                return
            officer.task, officer.state = task, "walking"
        self._state(officer_id, task["id"], "accepted")
        self.on_event(officer_id, f"accepted task for incident {task['incident']} at {task['node']}/{task['zone']}")

    def _state(self, officer: str, task: str, state: str) -> None:
        self.officers[officer].history.append(state)
        self.client.publish(f"{self.prefix}/officer/{officer}/task_state",
                            json.dumps({"task": task, "state": state, "ts": _now()}), qos=1)

    # --- walking -----------------------------------------------------------------------------------
    def _run(self) -> None:
        reported = -1e9
        while not self._stop.wait(self.tick_s):
            report = time.monotonic() - reported >= self.report_s
            if report:
                reported = time.monotonic()
            with self._lock:
                for o in self.officers.values():
                    self._step(o)
                    if not report:
                        continue
                    self.client.publish(f"{self.prefix}/officer/{o.id}/position", json.dumps(
                        {"lat": round(o.lat, 7), "lon": round(o.lon, 7), "ts": _now(), "accuracy_m": 5.0,
                         "available": o.task is None}), qos=1)

    def _step(self, o: Officer) -> None:
        if o.task is None:
            return
        if o.state == "walking" and o.task.get("lat") is not None:
            dn = (o.task["lat"] - o.lat) * 111_320.0
            de = (o.task["lon"] - o.lon) * 111_320.0 * math.cos(math.radians(o.lat))
            dist = math.hypot(dn, de)
            step = self.speed_mps * self.tick_s * self.time_scale
            if dist <= max(step, ARRIVED_M):
                o.lat, o.lon, o.state, o.arrived = o.task["lat"], o.task["lon"], "on_scene", time.monotonic()
                self._state(o.id, o.task["id"], "on_scene")
                self.on_event(o.id, f"on scene at {o.task['node']}/{o.task['zone']}")
            else:
                o.lat += dn / dist * step / 111_320.0
                o.lon += de / dist * step / (111_320.0 * math.cos(math.radians(o.lat)))
        elif o.state == "on_scene" and time.monotonic() - o.arrived >= self.on_scene_s / self.time_scale:
            self._state(o.id, o.task["id"], "done")
            self.on_event(o.id, f"done with incident {o.task['incident']}")
            o.task, o.state = None, "idle"


def parse_officer(text: str) -> Officer:
    try:
        oid, lat, lon = text.split(":")
        return Officer(oid, float(lat), float(lon))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--officer {text!r}: expected ID:LAT:LON") from None


def cmd_officers(args: argparse.Namespace) -> int:
    from edge.crypto import KeyFileError

    try:
        key = load_public_key(args.hub_key)
    except KeyFileError as exc:
        print(f"edge-sim: {exc}", file=sys.stderr)
        return 2
    sim = OfficerSim(args.broker, args.officer, key, prefix=args.prefix, speed_mps=args.speed_mps,
                     time_scale=args.time_scale, on_event=lambda o, text: print(f"{o}: {text}", flush=True))
    try:
        sim.start()
    except OSError as exc:
        print(f"edge-sim: cannot connect to {args.broker}: {exc}", file=sys.stderr)
        return 2
    try:
        time.sleep(args.duration) if args.duration else threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


def add_officers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("officers", help="simulated officers' devices: positions, tasks, accept/on scene/done")
    p.add_argument("--broker", default="127.0.0.1:1883", metavar="HOST:PORT")
    p.add_argument("--prefix", default="edge")
    p.add_argument("--hub-key", required=True, help="the hub's public key (hub.pub): tasks are verified with it")
    p.add_argument("--officer", action="append", type=parse_officer, required=True, metavar="ID:LAT:LON")
    p.add_argument("--speed-mps", type=float, default=5.0)
    p.add_argument("--time-scale", type=float, default=1.0, help="walk this many times faster than real time")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.set_defaults(func=cmd_officers)
