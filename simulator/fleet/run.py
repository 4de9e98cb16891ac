"""`edge-sim fleet`: N real nodes, one hub, faults on a schedule, and the invariants checked at the end.

Phases (see docs/fleet.md):
1. set-up: hub (mosquitto with persistence, `edge-hub listen`, `edge-hub receive`, keys), per node a
   state folder, keys, a TCP proxy to the broker, a small tmpfs for the disk-full node's evidence and
   an RTSP camera for the camera-loss node;
2. run: the nodes play their scenarios for --duration seconds while the faults come and go;
3. stop: every node gets SIGTERM (as systemd stops it): what it decided is committed;
4. drain: every node starts again with its camera unplugged, so it only talks to the hub, until its
   outbox is empty and its evidence is verified by the hub (at most --drain seconds);
5. count: the nodes' state folders against the hub's databases; one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from .faults import FaultInjector, sleep_until
from .nodes import BIN, REPO, FleetNode
from .spec import SpecError, parse_spec, spec_text

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
DISK_BYTES = 32 * 1024 * 1024


class Fleet:
    def __init__(self, out: Path, n_nodes: int, duration: float, faults_text: str, drain_s: float,
                 stats_interval_s: float = 10.0):
        self.out = out
        self.n_nodes = n_nodes
        self.duration = duration
        self.drain_s = drain_s
        self.stats_interval_s = stats_interval_s
        self.node_ids = [f"node{i}" for i in range(1, n_nodes + 1)]
        self.faults = parse_spec(faults_text, self.node_ids, duration)  # SpecError before anything starts
        self.faults_text = spec_text(self.faults)
        self.nodes: dict[str, FleetNode] = {}
        self.hub = None
        self.disk_problem: str | None = None
        self.proxies = []
        self.cameras = []
        self.disks = []
        self._t0 = time.monotonic()
        self.injector = FaultInjector(self)
        self.unexpected_exits: list[str] = []

    def clock(self) -> float:
        return time.monotonic() - self._t0

    def say(self, text: str) -> None:
        print(f"fleet [t={self.clock():6.1f}s] {text}", file=sys.stderr, flush=True)

    # --- set-up -------------------------------------------------------------------------------------
    def setup(self) -> None:
        from .camera import RtspCamera, render_camera_clip
        from .disk import SmallDisk, mount_problem
        from .hub import Hub
        from .proxy import TcpProxy

        self.hub = Hub(self.out / "hub")
        self.hub.start()
        self.say(f"hub up: mosquitto on {self.hub.broker.address}, edge-hub listen and receive")
        camera_nodes = {f.node for f in self.faults if f.kind == "camera_loss"}
        disk_nodes = {f.node for f in self.faults if f.kind == "disk_full"}
        if disk_nodes:
            self.disk_problem = mount_problem()
            if self.disk_problem:
                self.say(f"disk_full faults skipped: {self.disk_problem}")
        for node_id in self.node_ids:
            proxy = TcpProxy(self.hub.port, name=f"proxy-{node_id}").start()
            self.proxies.append(proxy)
            node = FleetNode(int(node_id[4:]), self.out, proxy.port, self.clock,
                             stats_interval_s=self.stats_interval_s)
            node.proxy = proxy
            node.provision(self.hub.pub, self.hub.node_keys)
            if node_id in disk_nodes and not self.disk_problem:
                disk = SmallDisk(node.state / "evidence", DISK_BYTES)
                try:
                    disk.mount()
                except OSError as exc:
                    self.disk_problem = str(exc)
                    self.say(f"disk_full faults skipped: {exc}")
                else:
                    self.disks.append(disk)
                    node.disk = disk
            if node_id in camera_nodes:
                clip = render_camera_clip(node.scenario, self.out / "cameras" / node.scenario.stem)
                camera = RtspCamera(clip, node.state)
                self.cameras.append(camera)
                camera.power_on()
                node.camera = camera
            self.nodes[node_id] = node
        for node in self.nodes.values():
            what = "RTSP camera" if node.camera else "simulated camera"
            disk = f", evidence on a {DISK_BYTES // 2**20} MB tmpfs" if node.disk else ""
            self.say(f"{node.id}: {node.profile_name} profile, {what} ({node.scenario.stem}){disk}, "
                     f"broker via proxy :{node.proxy.port}")

    # --- the run ------------------------------------------------------------------------------------
    def run(self) -> dict:
        started = time.monotonic()
        self.setup()
        self._t0 = time.monotonic()
        for node in self.nodes.values():
            node.start()
        self.say(f"{len(self.nodes)} nodes started; faults: {self.faults_text}")
        events = sorted([(f.start, 0, i, "inject") for i, f in enumerate(self.faults)] +
                        [(f.end, 1, i, "lift") for i, f in enumerate(self.faults)])
        for at, _, i, action in events:
            sleep_until(self.clock, at, self._watch)
            fault = self.faults[i]
            try:
                getattr(self.injector, action)(fault)
            except Exception as exc:  # a fault that could not be applied is a failed run, not a crash
                fault.record.setdefault("problem", f"{action}: {exc}")
                self.say(f"{fault.label}: {action} failed: {exc}")
        sleep_until(self.clock, self.duration, self._watch)
        run_end = self.clock()
        for fault in self.faults:
            self.injector.judge(fault, run_end)
        self.say("run over: stopping every node (SIGTERM)")
        stop_exits = {}
        for node in self.nodes.values():
            stop_exits[node.id] = node.stop()
        for camera in self.cameras:
            camera.close()
        drain = self._drain()
        report = self._report(stop_exits, drain, run_end)
        report["seconds"] = round(time.monotonic() - started, 1)
        return report

    def _watch(self) -> None:
        """Between faults: notice a node that died on its own (not killed by a fault) and start it
        again, as systemd would (a few times at most); the run then fails, naming it."""
        for node in self.nodes.values():
            if node.proc is not None and node.proc.poll() is not None:
                code = node.proc.returncode
                node._finish()
                self.unexpected_exits.append(f"{node.id} exited on its own at t={self.clock():.0f} s (status {code})")
                again = sum(e.startswith(f"{node.id} ") for e in self.unexpected_exits) <= 3
                self.say(f"{node.id} EXITED on its own (status {code}); see {node.state / 'node.log'}"
                         f"{'; starting it again' if again else ''}")
                if again:
                    node.start()

    def _drain(self) -> dict:
        self.say(f"drain: nodes restart with the camera unplugged until everything reached the hub "
                 f"(at most {self.drain_s:g} s)")
        t0 = self.clock()
        for node in self.nodes.values():
            node.draining = True
            node.start()
        left = {}
        while True:
            time.sleep(1.0)
            # Each node must be up (its first report in health.json: running, signals handled) before it counts.
            up = all(n.healthy_since(t0, need_link=False) is not None for n in self.nodes.values())
            left = self._undrained()
            if (up and not left) or self.clock() - t0 >= self.drain_s:
                break
        took = self.clock() - t0
        self.say(f"drain: {'done' if not left else 'NOT done'} after {took:.1f} s; stopping the nodes")
        exits = {node.id: node.stop() for node in self.nodes.values()}
        left = self._undrained()  # again, with every node stopped: what really stayed behind
        return {"drained": not left, "drain_s": round(took, 1), "not_drained": left, "exits": exits}

    def _undrained(self) -> dict:
        hub_alerts = {(i, s) for _, i, s in self.hub.alerts()}
        hub_bundles = self.hub.bundles()
        left = {}
        for node in self.nodes.values():
            produced = {(e["id"], e["stage"]) for e in node.lifecycle()}
            sealed = [b for b in node.bundles() if b["state"] == "sealed"]
            problems = {
                "outbox": node.outbox_depth(),
                "alerts_not_at_hub": len(produced - hub_alerts),
                "uploads_pending": node.uploads_pending(),
                "bundles_not_verified": sum(hub_bundles.get((node.id, b["id"]), {}).get("state") != "verified"
                                            for b in sealed),
                "bundles_not_acked": sum(not b["acked"] for b in sealed),
                "bundles_open": sum(b["state"] != "sealed" for b in node.bundles()),
            }
            problems = {k: v for k, v in problems.items() if v}
            if problems:
                left[node.id] = problems
        return left

    # --- counting -------------------------------------------------------------------------------------
    def _report(self, stop_exits: dict, drain: dict, run_end: float) -> dict:
        hub_rows = self.hub.alerts()
        hub_bundles = self.hub.bundles()
        hub_alive = self.hub.alive()
        duplicates = self.hub.tap.duplicates if self.hub.tap else None
        deliveries = self.hub.tap.deliveries if self.hub.tap else None
        received_all = {(i, s) for _, i, s in hub_rows}
        produced_all: set[tuple[str, str]] = set()
        per_node = {}
        problems: list[str] = []
        bundles_produced = bundles_verified = bundles_acked = 0
        for node in self.nodes.values():
            events = node.lifecycle()
            produced = {(e["id"], e["stage"]) for e in events}
            produced_all |= produced
            received = {(i, s) for n, i, s in hub_rows if n == node.id}
            sealed = [b for b in node.bundles() if b["state"] == "sealed"]
            verified = [b for b in sealed if hub_bundles.get((node.id, b["id"]), {}).get("state") == "verified"
                        and hub_bundles[(node.id, b["id"])]["manifest_sha256"] == b["manifest_sha256"]]
            bundles_produced += len(sealed)
            bundles_verified += len(verified)
            bundles_acked += sum(b["acked"] for b in sealed)
            stages = Counter(s for _, s in produced)
            check = self._verify_evidence(node) if sealed else {"ok": True, "bundles": 0}
            detail = {
                "profile": node.profile_name, "source": "rtsp" if node.camera else "sim",
                "scenario": node.scenario.stem, "evidence_on_tmpfs": node.disk is not None,
                "warnings": stages["warning"], "alerts": stages["alert"], "cleared": stages["cleared"],
                "alerts_produced": len(produced), "alerts_received": len(received & produced),
                "bundles_produced": len(sealed), "bundles_verified_at_hub": len(verified),
                "bundles_acked": sum(b["acked"] for b in sealed),
                "bundles_incomplete": sum(b["incomplete"] for b in sealed),
                "bundles_degraded": sum(b["degraded"] for b in sealed),
                "bundles_deleted_by_retention": sum(b["deleted"] for b in sealed),
                "evidence_verify_on_node": check,
                "max_outbox_depth": node.max_outbox(), "starts": node.starts, "kills": node.kills,
                **node.receipt_stats(),
                "exit_at_stop": stop_exits.get(node.id), "exit_after_drain": drain["exits"].get(node.id),
                "exits": node.exits, "dead_letters": node.dead_letters(), "log_errors": len(node.log.errors),
                "tracebacks": node.log.tracebacks, "log": str(node.state / "node.log"),
            }
            per_node[node.id] = detail
            if produced - received:
                problems.append(f"{node.id}: {len(produced - received)} lifecycle message(s) never reached the hub")
            if len(verified) != len(sealed):
                problems.append(f"{node.id}: {len(sealed) - len(verified)} sealed bundle(s) not verified at the hub")
            if not check["ok"]:
                problems.append(f"{node.id}: edge-node evidence verify failed: {check.get('problem')}")
            if stop_exits.get(node.id) not in (0, None) or drain["exits"].get(node.id) not in (0, None):
                problems.append(f"{node.id}: exit status {stop_exits.get(node.id)} at the stop, "
                                f"{drain['exits'].get(node.id)} after the drain (expected 0)")
            if node.log.tracebacks:
                problems.append(f"{node.id}: {node.log.tracebacks} traceback(s) in its log")
            if detail["dead_letters"]:
                problems.append(f"{node.id}: {detail['dead_letters']} message(s) refused by the broker")
        problems += self.unexpected_exits
        unexpected = received_all - produced_all
        if unexpected:
            problems.append(f"the hub holds {len(unexpected)} lifecycle message(s) no node recorded")
        rejected = [k for k, v in hub_bundles.items() if v["state"] != "verified"]
        if rejected:
            problems.append(f"the hub rejected or could not verify {len(rejected)} bundle(s)")
        if not produced_all:
            problems.append("no lifecycle message was produced")
        if not bundles_produced:
            problems.append("no evidence bundle was produced")
        if not drain["drained"]:
            problems.append(f"not drained after {self.drain_s:g} s: {json.dumps(drain['not_drained'])}")
        for name, alive in hub_alive.items():
            if not alive:
                problems.append(f"edge-hub {name} died during the run")
        faults = []
        skipped = []
        for f in self.faults:
            entry = {"kind": f.kind, "node": f.node, "start_s": f.start, "length_s": f.length, **f.record}
            entry.setdefault("happened", False)
            faults.append(entry)
            if f.record.get("skipped"):
                skipped.append({"fault": f.text, "reason": f.record["skipped"]})
                continue
            if not entry["happened"]:
                problems.append(f"{f.text}: did not happen ({f.record.get('problem', 'see faults')})")
            elif not entry.get("recovered"):
                problems.append(f"{f.text}: no recovery seen before the run ended")
        recoveries = [f["recovery_s"] for f in faults if f.get("recovery_s") is not None]
        return {
            "ok": not problems,
            "alerts_produced": len(produced_all),
            "alerts_received": len(received_all & produced_all),
            "alerts_at_hub": len(received_all),
            "bundles_produced": bundles_produced,
            "bundles_verified_at_hub": bundles_verified,
            "bundles_acked_by_nodes": bundles_acked,
            "duplicates": duplicates,
            "alert_deliveries": deliveries,
            "max_outbox_depth": max((d["max_outbox_depth"] for d in per_node.values()), default=0),
            "receipts": sum(d["receipts"] for d in per_node.values()),
            "max_receipt_s": max((d["max_receipt_s"] for d in per_node.values() if d["max_receipt_s"] is not None),
                                 default=None),
            "max_recovery_s": max(recoveries) if recoveries else None,
            "drained": drain["drained"],
            "drain_s": drain["drain_s"],
            "not_drained": drain["not_drained"],
            "problems": problems,
            "node_count": len(self.nodes),
            "duration_s": self.duration,
            "run_s": round(run_end, 1),
            "faults_spec": self.faults_text,
            "faults": faults,
            "skipped_faults": skipped,
            "nodes": per_node,
            "out": str(self.out),
        }

    def _verify_evidence(self, node: FleetNode) -> dict:
        """`edge-node evidence verify --all` on the node's state folder (files, signatures, chain)."""
        result = subprocess.run([str(BIN / "edge-node"), "evidence", "verify", "--all", "--state-dir", str(node.state)],
                                capture_output=True, text=True, timeout=300, cwd=REPO)
        if result.returncode == 0:
            return {"ok": True, "bundles": sum(line.endswith(": ok") for line in result.stdout.splitlines())}
        if "no bundle" in result.stderr:  # every bundle was removed by retention after the hub verified it
            return {"ok": True, "bundles": 0}
        return {"ok": False, "problem": result.stderr.strip().splitlines()[-1] if result.stderr.strip() else
                f"exit {result.returncode}"}

    # --- tear-down: always, also on errors and Ctrl-C ---------------------------------------------------------
    def close(self) -> None:
        for node in self.nodes.values():
            try:
                node.close()
            except Exception as exc:  # keep tearing down
                print(f"fleet: stopping {node.id}: {exc}", file=sys.stderr)
        for camera in self.cameras:
            camera.close()
        if self.hub is not None:
            self.hub.stop()
        for proxy in self.proxies:
            proxy.stop()
        for disk in self.disks:
            disk.unmount()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def cmd_fleet(args: argparse.Namespace) -> int:
    import shutil

    if args.nodes < 1:
        print("edge-sim fleet: --nodes must be at least 1", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.duration <= 0 or args.drain <= 0:
        print("edge-sim fleet: --duration and --drain must be positive", file=sys.stderr)
        return EXIT_BAD_INPUT
    out: Path = args.out.resolve()
    try:
        fleet = Fleet(out, args.nodes, args.duration, args.faults, args.drain, stats_interval_s=args.stats_interval)
    except SpecError as exc:
        print(f"edge-sim fleet: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    previous = signal.signal(signal.SIGTERM, _interrupt)  # clean up on SIGTERM as on Ctrl-C
    try:
        report = fleet.run()
    except KeyboardInterrupt:
        print("edge-sim fleet: interrupted; cleaning up", file=sys.stderr)
        return 130
    except Exception as exc:  # set-up trouble (a tool missing, a port taken): one line, then clean up
        print(f"edge-sim fleet: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        fleet.close()
        signal.signal(signal.SIGTERM, previous)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    for problem in report["problems"]:
        print(f"fleet: PROBLEM: {problem}", file=sys.stderr)
    print(f"fleet: {'ok' if report['ok'] else 'FAILED'}: {report['alerts_received']}/{report['alerts_produced']} "
          f"lifecycle messages at the hub, {report['bundles_verified_at_hub']}/{report['bundles_produced']} bundles "
          f"verified, {report['duplicates']} duplicate deliveries, max time to receipt {report['max_receipt_s']} s, "
          f"max recovery {report['max_recovery_s']} s",
          file=sys.stderr)
    print(json.dumps(report))
    return EXIT_OK if report["ok"] else EXIT_FAILED


def add_fleet(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fleet", help="run N nodes against one hub while injecting faults; check nothing is lost",
                       description="Run N simulated nodes (reservoir and market profiles) as real edge-node "
                                   "processes against a local mosquitto and hub, inject faults on a schedule, "
                                   "drain, and print one JSON object with the invariants (see docs/fleet.md).")
    p.add_argument("--nodes", type=int, default=3, metavar="N", help="number of nodes (default 3)")
    p.add_argument("--duration", type=float, default=120.0, metavar="S",
                   help="seconds the nodes run while faults come and go (default 120)")
    p.add_argument("--faults", default="all", metavar="SPEC",
                   help="fault schedule: KIND[:NODE][@START][+LENGTH],... with KIND one of broker_restart, "
                        "broker_kill, hub_restart, partition, stall, kill, disk_full, camera_loss; or 'all' "
                        "(default: every kind, in rounds) or 'none'")
    p.add_argument("--drain", type=float, default=90.0, metavar="S",
                   help="at most this long after the run for outboxes and uploads to empty (default 90)")
    p.add_argument("--out", type=Path, default=Path("fleet-out"), help="run folder (default fleet-out/, replaced)")
    p.add_argument("--stats-interval", type=float, default=10.0, metavar="S", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_fleet)
