"""The tour's hub: a local mosquitto, the hub's signing key, and `edge-hub serve` (ingest with
receipts, evidence, incidents, the API) with simulated officers' devices; the tour watches it
through its API's event stream and dispatches through its API as a dispatcher would."""

from __future__ import annotations

import json
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .procs import Processes, query, stop

BIN = Path(sys.executable).parent

HUB_TOML = """# written by edge-sim demo
[hub]
data_dir = "{folder}"
key_file = "hub.key"

[broker]
address = "{broker}"
client_id = "edge-hub-serve-demo"

[store]
url = "hub.db"

[evidence]
dir = "evidence"

[api]
listen = "127.0.0.1:{api_port}"

[incidents]
group_window_s = 600

[dispatch]
speed_kmh = 18

[console]
sites = "sites.geojson"
profiles = "profiles"

[[nodes]]
id = "reservoir-01"
lat = 30.2741
lon = 120.1551

[[nodes]]
id = "market-01"
lat = 30.2790
lon = 120.1620
"""

# Officers on patrol near the two sites (ID, lat, lon): one is nearest to each site.
OFFICERS = [("zf-0107", 30.2762, 120.1546), ("zf-0212", 30.2820, 120.1650), ("zf-0330", 30.2690, 120.1700)]
DISPATCHER = ("dispatch-demo", "demo-dispatcher-pass")


def _square(name: str, lat: float, lon: float, d: float = 0.0015) -> dict:
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]]
    return {"type": "Feature", "properties": {"name": name}, "geometry": {"type": "Polygon", "coordinates": [ring]}}


# The map's offline base ([console] sites): the outlines of the two sites.
SITES = {"type": "FeatureCollection", "features": [_square("水库 reservoir", 30.2741, 120.1551),
                                                  _square("市场街 market street", 30.2790, 120.1620)]}


@dataclass
class Hub:
    folder: Path
    procs: Processes
    on_event: object  # (source, text, style) -> None
    broker: object = None
    server: object = None
    officers: object = None
    api: object = None
    api_port: int = 0
    online: set[str] = field(default_factory=set)
    incidents: dict[int, dict] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def key(self) -> Path:
        return self.folder / "hub.key"

    @property
    def public_key(self) -> Path:
        return self.folder / "hub.pub"

    @property
    def alerts_db(self) -> Path:
        return self.folder / "hub.db"

    @property
    def evidence(self) -> Path:
        return self.folder / "evidence"

    @property
    def receive_db(self) -> Path:
        return self.evidence / "receive.db"

    @property
    def config(self) -> Path:
        return self.folder / "hub.toml"

    # --- life ------------------------------------------------------------------------------------
    def start_broker(self) -> str:
        from edge.crypto import generate_keypair
        from simulator.broker import Broker, free_port

        self.broker = Broker(self.folder / "broker")
        self.broker.start()  # after the assignment: stopped by the clean-up even if interrupted while starting
        generate_keypair(self.key, self.public_key)
        (self.evidence / "node-keys").mkdir(parents=True, exist_ok=True)
        self.api_port = free_port()
        self.config.write_text(HUB_TOML.format(folder=self.folder, broker=self.broker.address, api_port=self.api_port))
        (self.folder / "sites.geojson").write_text(json.dumps(SITES, ensure_ascii=False))
        (self.folder / "profiles").mkdir(exist_ok=True)
        return self.broker.address

    @property
    def console_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}/console/"

    def accept_node_key(self, node_id: str, public_key: Path) -> None:
        """Provisioning: the hub verifies a node's evidence with the node's public key."""
        shutil.copy(public_key, self.evidence / "node-keys" / f"{node_id}.pub")

    def start_tools(self) -> None:
        import httpx

        from edge.hub.service import auth
        from edge.hub.service.db import Database
        from simulator.officers import Officer, OfficerSim

        db = Database(str(self.alerts_db))  # the store as `edge-hub user add` sets it up
        db.migrate()
        auth.add_user(db, DISPATCHER[0], DISPATCHER[1], "admin")
        db.close()
        ready = threading.Event()
        self.server = self.procs.spawn("hub-serve", [str(BIN / "edge-hub"), "serve", "--config", str(self.config)],
                                       lambda line: self._serve_line(line, ready))
        if not ready.wait(60) or self.server.poll() is not None:
            raise RuntimeError("edge-hub serve did not start (see logs/hub-serve.log)")
        self.api = httpx.Client(base_url=f"http://127.0.0.1:{self.api_port}", timeout=20)
        r = self.api.post("/api/login", json={"username": DISPATCHER[0], "password": DISPATCHER[1]})
        r.raise_for_status()
        self.api.headers["X-CSRF-Token"] = r.json()["csrf"]
        for oid, _, _ in OFFICERS:
            self.api.post("/api/officers", json={"id": oid, "name": f"Officer {oid}", "badge": oid[3:],
                                                 "device": f"DSJ-{oid[3:]}"}).raise_for_status()
        self.officers = OfficerSim(self.broker.address, [Officer(o, lat, lon) for o, lat, lon in OFFICERS],
                                   self._public_key(), speed_mps=5.0, time_scale=20.0, on_scene_s=10.0, report_s=2.0,
                                   on_event=lambda o, text: self.on_event(f"officer {o}", text, "blue")).start()
        threading.Thread(target=self._events, daemon=True, name="hub-events").start()

    def _public_key(self):
        from edge.crypto import load_public_key

        return load_public_key(self.public_key)

    def _serve_line(self, line: str, ready: threading.Event) -> None:
        if "edge-hub: serving" in line:
            ready.set()
        elif " REJECTED" in line or " ERROR " in line or "Traceback" in line:
            self.on_event("hub", line.split(": ", 1)[-1], "red")
        elif "receive: bundle" in line and " verified" in line:
            message = line.split("receive: ", 1)[-1]
            self.on_event("hub", f"verified evidence {message}: signature, files and chain ok", "green")

    def _events(self) -> None:
        """The API's live stream, as the console sees it."""
        import httpx

        while not self._stop.is_set():
            try:
                with httpx.Client(base_url=self.api.base_url, cookies=self.api.cookies, timeout=None) as c, \
                        c.stream("GET", "/api/events") as r:
                    for line in r.iter_lines():
                        if self._stop.is_set():
                            return
                        if line.startswith("event: "):
                            kind = line[7:]
                        elif line.startswith("data: "):
                            self._event(kind, json.loads(line[6:]))
            except (httpx.HTTPError, ValueError):
                time.sleep(0.5)

    def _event(self, kind: str, data: dict) -> None:
        if kind == "node":
            (self.online.add if data["state"] == "online" else self.online.discard)(data["node"])
            self.on_event("hub", f"{data['node']} is {data['state']}", "dim")
        elif kind == "incident" and "violation" in data:
            opened = data["id"] not in self.incidents
            self.incidents.setdefault(data["id"], {"node": data["node"]})
            what = "opened incident" if opened else "added to incident"
            self.on_event("hub", f"stored {data['stage'].upper()} from {data['node']}: {what} #{data['id']}", "cyan")
        elif kind == "incident" and "state" in data:
            self.on_event("hub", f"incident #{data['id']}: {data['from']} -> {data['state']} ({data['actor']})", "cyan")

    def stop(self) -> list[str]:
        """Stop the officers, the hub and the broker; the problems, one line each."""
        problems = []
        self._stop.set()
        if self.officers is not None:
            self.officers.stop()
        if self.server is not None:
            if self.server.poll() is not None:
                problems.append(f"edge-hub serve had exited with code {self.server.returncode} (see logs/)")
            elif stop(self.server, 20) not in (0, -15):
                problems.append(f"edge-hub serve did not stop cleanly (exit {self.server.returncode})")
        if self.broker is not None:
            self.broker.stop()
        return problems

    # --- signed commands -------------------------------------------------------------------------
    def command(self, node: str, name: str, args: dict | None = None, *, speak: dict | None = None,
                timeout: float = 20) -> dict | str:
        """Run `edge-hub command` (or `edge-hub speak` with `speak` options); the node's result, or why none."""
        common = ["--broker", self.broker.address, "--key", str(self.key), "--timeout", str(timeout)]
        if speak is not None:
            cmd = [str(BIN / "edge-hub"), "speak", node, *common]
            for key, value in speak.items():
                cmd += [f"--{key}", str(value)]
        else:
            cmd = [str(BIN / "edge-hub"), "command", node, name, *common]
            if args:
                cmd += ["--args-json", json.dumps(args)]
        result = self.procs.run(f"hub-{name}-{node}", cmd, timeout=timeout + 30)
        for line in reversed(result.stdout.splitlines()):
            try:
                answer = json.loads(line)
            except ValueError:
                continue
            if isinstance(answer, dict):
                return answer
        return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else f"exit {result.returncode}"

    def api_command(self, node: str, name: str, args: dict, timeout: float = 30) -> dict:
        """A command through the API (signed and tracked by the service) until its cmd_result."""
        r = self.api.post(f"/api/nodes/{node}/commands", json={"name": name, "args": args})
        if r.status_code != 200:
            return {"ok": False, "error": r.json().get("detail")}
        cid = r.json()["id"]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            row = self.api.get(f"/api/commands/{cid}").json()
            if row["state"] != "sent":
                return row
            time.sleep(0.2)
        return {"ok": False, "error": f"no cmd_result within {timeout:g} s", "id": cid}

    def snapshot_picture(self, node: str) -> Path | None:
        """The node's last snapshot picture as the API serves it, saved next to the hub's files."""
        r = self.api.get(f"/api/nodes/{node}/snapshot")
        if r.status_code != 200:
            return None
        path = self.folder / f"snapshot-{node}.jpg"
        path.write_bytes(r.content)
        return path

    def dispatch_nearest(self, timeout: float = 60) -> dict:
        """The dispatcher's loop: the first alert incident, the nearest officer, until on scene and done."""
        deadline = time.monotonic() + timeout
        incident = None
        while time.monotonic() < deadline and incident is None:
            items = self.api.get("/api/incidents", params={"level": "alert", "state": ["new"]}).json()["items"]
            incident = items[-1] if items else None
            if incident is None:
                time.sleep(0.5)
        if incident is None:
            return {"ok": False, "error": "no alert incident to dispatch"}
        proposals = self.api.get(f"/api/incidents/{incident['id']}/proposals").json().get("officers", [])
        if not proposals:
            return {"ok": False, "error": f"no officer to propose for incident {incident['id']}"}
        best = proposals[0]
        self.on_event("hub", f"incident #{incident['id']} ({incident['node']} {incident['rule']}): nearest officer "
                             f"{best['officer']}, {best['distance_m']:.0f} m, ETA {best['eta_s'] / 60:.1f} min "
                             "(straight line); dispatching", "bold cyan")
        r = self.api.post(f"/api/incidents/{incident['id']}/dispatch",
                          json={"officer": best["officer"], "note": "demo dispatch"})
        if r.status_code != 200:
            return {"ok": False, "error": r.json().get("detail")}
        while time.monotonic() < deadline:
            detail = self.api.get(f"/api/incidents/{incident['id']}").json()
            if detail["state"] == "resolved":
                break
            time.sleep(0.5)
        detail = self.api.get(f"/api/incidents/{incident['id']}").json()
        return {"ok": detail["state"] == "resolved", "incident": incident["id"], "node": incident["node"],
                "officer": best["officer"], "distance_m": best["distance_m"], "eta_s": best["eta_s"],
                "state": detail["state"], "on_scene_met": detail["targets"]["on_scene"]["met"],
                "audit": [f"{a['from']} -> {a['to']} ({a['actor']})" for a in detail["audit"]]}

    # --- what the hub has ------------------------------------------------------------------------
    def messages(self) -> set[tuple[str, str, str]]:
        """(node, id, stage) of every lifecycle message stored."""
        return set(query(self.alerts_db, "SELECT node, id, stage FROM messages"))

    def incident_summary(self) -> dict:
        rows = query(self.alerts_db, "SELECT state, level FROM incidents")
        states: dict[str, int] = {}
        for state, _ in rows:
            states[state] = states.get(state, 0) + 1
        return {"total": len(rows), "alerts": sum(level == "alert" for _, level in rows), "states": states}

    def verified(self) -> set[tuple[str, str]]:
        """(node, bundle) of every evidence bundle verified by the hub's receiver."""
        return set(query(self.receive_db, "SELECT node, bundle FROM bundles WHERE state = 'verified'"))

    def rejected(self) -> list[tuple]:
        return query(self.receive_db, "SELECT node, bundle, state, reason FROM bundles WHERE state != 'verified'")
