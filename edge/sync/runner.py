"""`edge-node run` for a dock: scan for recorders, ingest, upload, answer the hub.  No camera."""

from __future__ import annotations

import logging
import threading
import time

from ..contract.commands import EvidenceAckArgs, EvidenceHoldArgs, PingArgs
from ..contract.timefmt import now_iso
from ..evidence.verdict import hub_verdict
from ..link import Command, CommandRefused
from ..link.stats import cpu_temperature_c, free_disk_bytes, uptime_s
from ..watchdog import Watchdog
from .dock import Dock

log = logging.getLogger("edge.dock")

# The dock's loop blocks while it hashes one whole recording at sealing time (several GB from a slow
# card): it asks systemd for this watchdog timeout instead of the unit's 30 s.
DOCK_WATCHDOG_S = 600.0


class DockRunner:
    def __init__(self, profile, dock: Dock, link, state_dir, watchdog: Watchdog | None = None):
        self.profile = profile
        self.dock = dock
        self.link = link
        self.state_dir = state_dir
        self.watchdog = watchdog or Watchdog()
        self._steps = 0  # the watchdog's progress: loop turns and blocks copied
        if link is not None:
            link.router.register("ping", PingArgs, lambda command, reply: reply(True, None, {"uptime_s": uptime_s()}))
            link.router.register("evidence_ack", EvidenceAckArgs, self._ack)
            link.router.register("evidence_hold", EvidenceHoldArgs, self._hold)

    def _ack(self, command: Command, reply) -> None:
        hub_verdict(self.dock.store, self.link.upload_store, command, reply)
        self.dock.remove_verified()

    def _hold(self, command: Command, reply) -> None:
        bundle, hold = command.params.bundle, command.params.hold
        if not self.dock.store.set_hold(bundle, hold):
            raise CommandRefused(f"no evidence bundle {bundle!r} on this dock")
        reply(True, None, {"id": bundle, "bundle": bundle, "hold": hold})

    def stats(self) -> dict:
        return {"ts": now_iso(), "fps": 0.0, "frames": 0, "dropped": 0,
                "source": "stopped", "uptime_s": uptime_s(), "cpu_temp_c": cpu_temperature_c(),
                "disk_free_bytes": free_disk_bytes(self.state_dir), "evidence_bytes": self.dock.store.used_bytes(),
                **self.dock.status()}

    def run(self, stop: threading.Event, duration_s: float | None = None) -> None:
        cfg = self.profile.dock
        started = time.monotonic()
        next_scan = last_stats = 0.0
        log.info("dock: watching %s for recorders every %g s", cfg.mount_dir, cfg.scan_interval_s)
        self.dock.on_progress = self._step
        self.watchdog.extend(DOCK_WATCHDOG_S)
        self.watchdog.ready(f"dock: watching {cfg.mount_dir}")
        while not stop.is_set():
            if duration_s is not None and time.monotonic() - started >= duration_s:
                break
            self._step()
            now = time.monotonic()
            if now >= next_scan:
                try:
                    self.dock.scan()
                except OSError as exc:  # the spool or the store failing: say so and try again later
                    log.error("dock: %s", exc)
                next_scan = time.monotonic() + cfg.scan_interval_s
            if self.link is not None:
                self.link.run_commands()
                if now - last_stats >= self.profile.link.stats_interval_s:
                    self.link.publish_stats(self.stats())
                    last_stats = now
                self.watchdog.status(f"dock: link {'up' if self.link.mqtt.connected.is_set() else 'down'}, "
                                     f"outbox {self.link.outbox.depth()}")
            stop.wait(0.1)
        self.watchdog.stopping()

    def _step(self) -> None:
        self._steps += 1
        self.watchdog.beat(self._steps)
