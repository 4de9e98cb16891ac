"""Injecting, lifting and judging the fleet's faults.

Each fault has a start (inject) and an end (lift) on the fleet's clock, and leaves a record:
`happened` (the fault was really applied: the process died of SIGKILL, the proxy reset connections,
the disk had no free byte, ...), `observed` (the node showed it: link down, camera reconnecting,
evidence degraded, ...), and `recovered` / `recovery_s` (see docs/fleet.md for each kind).
"""

from __future__ import annotations

import time

from .spec import Fault


class FaultInjector:
    def __init__(self, fleet):
        self.fleet = fleet  # simulator.fleet.run.Fleet

    def say(self, text: str) -> None:
        self.fleet.say(text)

    def node(self, fault: Fault):
        return self.fleet.nodes[fault.node]

    # --- start --------------------------------------------------------------------------------------
    def inject(self, f: Fault) -> None:
        now = self.fleet.clock()
        f.record.update(injected_at=round(now, 1))
        getattr(self, f"_inject_{f.kind}")(f)

    def _inject_broker_restart(self, f: Fault) -> None:
        code = self.fleet.hub.stop_broker()
        f.record.update(happened=code is not None, broker_exit=code)
        self.say(f"broker stopped (exit {code}); down for {f.length:g} s")

    def _inject_broker_kill(self, f: Fault) -> None:
        code = self.fleet.hub.kill_broker()
        f.record.update(happened=code == -9, broker_exit=code)
        self.say(f"broker killed -9 (exit {code}); what it acknowledged since its last autosave is gone; "
                 f"down for {f.length:g} s")

    def _inject_hub_restart(self, f: Fault) -> None:
        codes = self.fleet.hub.kill_tools()
        f.record.update(happened=all(c == -9 for c in codes.values()), exits=codes)
        self.say(f"hub tools killed -9 ({codes}); back in {f.length:g} s")

    def _inject_partition(self, f: Fault) -> None:
        node = self.node(f)
        open_now = node.proxy.drop()
        f.record.update(happened=True, connections_reset=open_now)
        self.say(f"{node.id} cut off: {open_now} connection(s) reset, new ones refused for {f.length:g} s")

    def _inject_stall(self, f: Fault) -> None:
        node = self.node(f)
        f.record.update(bytes_up_before=node.proxy.stats.bytes_up, bytes_down_before=node.proxy.stats.bytes_down)
        open_now = node.proxy.stall()
        f.record.update(happened=True, connections_stalled=open_now)
        self.say(f"{node.id} stalled: {open_now} connection(s) open, no byte forwarded for {f.length:g} s")

    def _inject_kill(self, f: Fault) -> None:
        node = self.node(f)
        code = node.kill9()
        f.record.update(happened=code == -9, exit=code)
        self.say(f"{node.id} power cut: kill -9 (exit {code}); off for {f.length:g} s")

    def _inject_disk_full(self, f: Fault) -> None:
        node = self.node(f)
        if node.disk is None or not node.disk.mounted:
            f.record.update(happened=False, skipped=self.fleet.disk_problem or "no small disk for this node")
            self.say(f"disk_full {node.id} skipped: {f.record['skipped']}")
            return
        taken = node.disk.fill()
        free = node.disk.free_bytes()
        f.record.update(happened=free < 64 * 1024, ballast_bytes=taken, free_bytes_after=free)
        self.say(f"{node.id} evidence disk full: {taken} bytes of ballast, {free} bytes left, for {f.length:g} s")

    def _inject_camera_loss(self, f: Fault) -> None:
        node = self.node(f)
        node.camera.power_off()
        f.record.update(happened=not node.camera.on)
        self.say(f"{node.id} camera lost power (RTSP server and stream gone) for {f.length:g} s")

    # --- end ----------------------------------------------------------------------------------------
    def lift(self, f: Fault) -> None:
        f.record.update(lifted_at=round(self.fleet.clock(), 1))
        getattr(self, f"_lift_{f.kind}")(f)

    def _lift_broker_restart(self, f: Fault) -> None:
        pid = self.fleet.hub.start_broker()
        f.record.update(new_pid=pid)
        self.say("broker started again (persistence restored)")

    def _lift_broker_kill(self, f: Fault) -> None:
        pid = self.fleet.hub.start_broker()
        f.record.update(new_pid=pid)
        self.say("broker started again (from its last autosave)")

    def _lift_hub_restart(self, f: Fault) -> None:
        self.fleet.hub.start_tools()
        f.record.update(restarted=True)
        self.say("hub tools started again")

    def _lift_partition(self, f: Fault) -> None:
        node = self.node(f)
        node.proxy.heal()
        f.record.update(refused=node.proxy.stats.refused)
        self.say(f"{node.id} reachable again ({node.proxy.stats.refused} connection attempt(s) refused meanwhile)")

    def _lift_stall(self, f: Fault) -> None:
        node = self.node(f)
        node.proxy.heal()
        self.say(f"{node.id} bytes flow again")

    def _lift_kill(self, f: Fault) -> None:
        node = self.node(f)
        node.start()
        f.record.update(restarted=True)
        self.say(f"{node.id} power back: restarted")

    def _lift_disk_full(self, f: Fault) -> None:
        node = self.node(f)
        if f.record.get("skipped"):
            return
        node.disk.free()
        f.record.update(free_bytes_after_lift=node.disk.free_bytes())
        self.say(f"{node.id} evidence disk has room again")

    def _lift_camera_loss(self, f: Fault) -> None:
        node = self.node(f)
        node.camera.power_on()
        self.say(f"{node.id} camera powered on again")

    # --- judging, after the run ---------------------------------------------------------------------------
    def judge(self, f: Fault, t_end: float) -> None:
        """Fill in observed / recovered / recovery_s from what the nodes reported up to t_end."""
        r = f.record
        if r.get("skipped"):
            r.update(observed=False, recovered=False, recovery_s=None)
            return
        t0, t1 = r.get("injected_at", f.start), r.get("lifted_at")
        if t1 is None:
            r.update(observed=False, recovered=False, recovery_s=None, problem="never lifted")
            return
        nodes = list(self.fleet.nodes.values()) if f.kind in ("broker_restart", "broker_kill", "hub_restart") \
            else [self.node(f)]
        # What each kind must look like on the node while it lasts, and what "recovered" needs.
        if f.kind in ("broker_restart", "broker_kill"):
            observed = all(n.saw(t0, t1 + 5, lambda s: s.link_up is False) for n in nodes)
        elif f.kind == "hub_restart":
            # the nodes' link stays up; their messages wait for receipts while the hub is away
            observed = r.get("happened", False)
        elif f.kind == "partition":
            observed = nodes[0].saw(t0, t1 + 5, lambda s: s.link_up is False)
        elif f.kind == "stall":
            # The node may not notice a short stall at all; held bytes or a grown outbox show it.
            node = nodes[0]
            observed = node.saw(t0, t1, lambda s: (s.outbox or 0) > 0 or s.link_up is False) or \
                r.get("connections_stalled", 0) > 0
        elif f.kind == "kill":
            observed = r.get("exit") == -9
        elif f.kind == "disk_full":
            node = nodes[0]
            observed = any(t0 <= t <= t1 + 10 and d for t, d in node.log.degraded) or \
                any(t0 <= t <= t1 + 10 and "evidence" in line for t, line in node.log.errors)
        else:  # camera_loss
            observed = nodes[0].saw(t0, t1 + 5, lambda s: s.source == "reconnecting")
        times = []
        for n in nodes:
            back = n.healthy_since(t1, need_link=f.kind in ("broker_restart", "broker_kill", "hub_restart",
                                                           "partition", "stall", "kill"),
                                   need_source=f.kind in ("camera_loss", "kill"), need_storage=f.kind == "disk_full")
            times.append(None if back is None or back > t_end else back - t1)
        recovered = all(t is not None for t in times)
        r.update(observed=bool(observed), recovered=recovered,
                 recovery_s=round(max(times), 1) if recovered and times else None)
        if f.kind in ("broker_restart", "broker_kill", "hub_restart"):
            r["recovery_by_node"] = {n.id: (None if t is None else round(t, 1)) for n, t in zip(nodes, times,
                                                                                                 strict=True)}


def sleep_until(clock, t: float, stop_check=None) -> None:
    while clock() < t:
        if stop_check is not None:
            stop_check()
        time.sleep(min(0.2, max(0.0, t - clock())))
