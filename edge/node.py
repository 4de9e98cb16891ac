"""The node runtime: pull the newest frame, run the pipeline, act on what it decides, report.

Everything here runs on one thread, the node's: the capture and the MQTT link have threads of their
own and talk to this loop through a one-frame mailbox and a command queue, so nothing here waits for
the network or a camera.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .capture import Frame, FrameSource, SourceState
from .config import Profile
from .contract.commands import ARGS as COMMAND_ARGS
from .contract.timefmt import now_iso
from .detect import DetectionStage
from .evidence import EvidenceRecorder
from .health import HealthFile
from .link import NodeLink
from .link.stats import cpu_temperature_c, free_disk_bytes, uptime_s
from .node_commands import NodeCommands
from .pipeline import Pipeline
from .rules import JsonlSink, LifecycleEvent
from .speaker import Speaker
from .watchdog import Watchdog

log = logging.getLogger("edge.node")


@dataclass
class RunSummary:
    frames: int
    seconds: float
    final_state: SourceState
    error: str | None
    stopped: bool  # by a signal, --duration or --max-frames rather than the source ending

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


# The longest a node waits for its first frame before it tells systemd it is up anyway (below the
# unit's TimeoutStartSec=120, which would restart it).
READY_WAIT_S = 60.0


class RateMeter:
    """Frames per second over the last reporting interval."""

    def __init__(self, interval_s: float = 1.0):
        self.interval_s = interval_s
        self._count = 0
        self._since = time.monotonic()
        self.last = 0.0

    def tick(self) -> float | None:
        """Count a frame; return the rate when an interval has passed."""
        self._count += 1
        now = time.monotonic()
        elapsed = now - self._since
        if elapsed < self.interval_s:
            return None
        self.last = self._count / elapsed
        self._count, self._since = 0, now
        return self.last

    def poll(self) -> float | None:
        """The rate when an interval has passed with no frame at hand: a read that timed out between
        two frames is not a stopped camera, so it counts the frames of the interval, not zero."""
        elapsed = time.monotonic() - self._since
        if elapsed < self.interval_s:
            return None
        self.last = self._count / elapsed
        self._count, self._since = 0, time.monotonic()
        return self.last


class Handoff:
    """What the evidence writer hands the node: lifecycle messages it held back until their bundle
    was sealed (they then carry its hash), and sealed bundles to upload.  Given to both at
    construction (edge.app): the writer's thread puts, the node's thread takes, between frames."""

    def __init__(self):
        self._queue: queue.SimpleQueue = queue.SimpleQueue()

    def deliver(self, message: dict) -> None:
        self._queue.put(("message", message))

    def sealed(self, bundle: str, manifest_sha256: str) -> None:
        self._queue.put(("sealed", bundle, manifest_sha256))

    def take(self) -> list[tuple]:
        out = []
        while True:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                return out


class Node(NodeCommands):
    """Runs the pipeline on each newest frame and hands lifecycle events to the sink and the link."""

    def __init__(self, profile: Profile, source: FrameSource, detect: DetectionStage | None = None, *,
                 sink: JsonlSink | None = None, link: NodeLink | None = None, state_dir: Path | None = None,
                 profile_path: Path | None = None, evidence: EvidenceRecorder | None = None,
                 speaker: Speaker | None = None, poses=None, report_interval_s: float = 1.0,
                 watchdog: Watchdog | None = None, handoff: Handoff | None = None,
                 fieldloop=None):
        self.profile = profile
        self.source = source
        self.detect = detect
        self.poses = poses  # PoseTrack of a drone's camera (telemetry), or None
        self.pipeline = Pipeline(profile, detect, poses)
        self.sink = sink
        self.link = link
        self.state_dir = state_dir
        self.profile_path = profile_path
        self.evidence = evidence
        self.speaker = speaker
        self.report_interval_s = report_interval_s
        self.watchdog = watchdog or Watchdog()  # systemd's: a no-op outside a Type=notify unit
        self.handoff = handoff  # from the evidence writer (None: its deliver calls come straight here)
        self._first_named: dict[str, str] = {}  # violation id -> its objects as first logged
        self.meter = RateMeter(report_interval_s)
        self.last_frame: Frame | None = None
        self._seen: Counter[str] = Counter()
        self._runs_at_report = 0
        self._frames_at_report = 0
        self._last_stats = 0.0
        self._degraded = False
        self.health = HealthFile(state_dir) if state_dir is not None else None  # edge.health: the report as JSON
        self.fieldloop = fieldloop  # edge.fieldloop.FieldLoop: model rollout and dataset capture, or None
        if link is not None:
            for name, handler in self.commands():
                link.router.register(name, COMMAND_ARGS[name], handler)

    # --- the loop ------------------------------------------------------------------------------
    def run(self, stop: threading.Event, *, duration_s: float | None = None,
            max_frames: int | None = None) -> RunSummary:
        source = self.source
        started = time.monotonic()
        frames = 0
        stopped = False
        last_wall = time.time()
        self.close_interrupted()
        # READY=1 once the source has delivered a frame (a camera that is absent at boot keeps the unit
        # "activating", its status saying so), or after READY_WAIT_S of trying: then the node runs on,
        # reconnecting with its back-off, rather than being restarted by TimeoutStartSec.
        ready = False
        ready_by = started + READY_WAIT_S
        while True:
            if stop.is_set() or (duration_s is not None and time.monotonic() - started >= duration_s):
                stopped = True
                break
            if ready:
                self.watchdog.beat(frames + source.stats.reconnects)  # pings only while frames (or retries) come
            self.take_handoff()
            if self.link is not None:
                self.link.run_commands()
                self._maybe_stats()
            self._watch_degraded()
            frame = source.read(timeout=0.1)
            if not ready and (frame is not None or time.monotonic() >= ready_by):
                ready = True
                self.watchdog.ready(f"running: source {source.state.value}" if frame is not None
                                    else f"running: no frame from the source yet ({source.state.value}), retrying")
            if frame is None:
                if source.done:
                    break
                idle_rate = self.meter.poll()  # say so when nothing arrives
                if idle_rate is not None:
                    self._report(idle_rate)
                continue
            frames += 1
            self.last_frame = frame
            missing = self.pipeline.pose_missing
            result = self.pipeline.process(frame)
            if self.pipeline.pose_missing != missing:
                if missing:
                    log.info("camera pose back: geofences and locations resume")
                else:
                    log.warning("no camera pose within %.1f s of the frames: geofenced rules wait for telemetry",
                                self.profile.telemetry.max_age_s)
            if result.detections is not None and result.detections.coverage != ():
                self._seen = Counter(result.detections.names)  # what the detector saw when it last looked
            if self.evidence is not None:
                self.evidence.observe(frame.image, frame.wall, frame.mono, self.pipeline.rules.open)
            if self.fieldloop is not None:
                self.fieldloop.on_frame(frame, result, [v.id for v in self.pipeline.rules.open])
            for event in result.events:
                self._handle(event)
            if self.evidence is not None:
                self.evidence.tick(frame.mono)
            last_wall = frame.wall
            rate = self.meter.tick()
            if rate is not None:
                self._report(rate)
            if max_frames is not None and frames >= max_frames:
                stopped = True
                break
        self.watchdog.stopping(f"stopping after {frames} frames")
        if frames:
            for event in self.pipeline.close(last_wall):
                self._handle(event)
        self.finish()
        if self.link is not None:
            self.link.run_commands()
        seconds = time.monotonic() - started
        summary = RunSummary(frames, seconds, source.state, source.error, stopped)
        self._write_health(self.meter.last, stopped=True, frames_at_stop=frames, fps_average=round(summary.fps, 2))
        return summary

    def finish(self) -> None:
        """Seal the evidence still open and send on what its writer released (idempotent)."""
        if self.evidence is not None:
            self.evidence.close()  # seal what is open and release the messages waiting for it
        self.take_handoff()

    def take_handoff(self) -> int:
        """Deliver what the evidence writer handed over; returns how many items."""
        if self.handoff is None:
            return 0
        items = self.handoff.take()
        for item in items:
            if item[0] == "message":
                self.deliver(item[1])
            elif self.link is not None:
                _, bundle, sha = item
                try:
                    self.link.queue_bundle(self.evidence.store.folder(bundle), sha)
                except Exception as exc:  # sealed all the same: the next start queues it for upload again
                    log.error("evidence: bundle %s is sealed, but queueing its upload failed after it: %s", bundle, exc)
        return len(items)

    def _objects_named(self, m: dict) -> str:
        """The objects of a violation as its first log line named them: the tracker may give the
        same stall a new id later, and an operator matching a CLEARED line to its WARNING needs the
        first one (the new id follows in brackets)."""
        now = ", ".join(f"{o['class']}#{o['track']}" for o in m["objects"])
        first = self._first_named.setdefault(m["id"], now)
        if m["stage"] == "cleared":
            self._first_named.pop(m["id"], None)
        return first if now in ("", first) else f"{first}; now {now}"

    def _handle(self, event: LifecycleEvent) -> None:
        m = event.message
        objects = self._objects_named(m)
        log.warning("%s %s: %s in %s (%s) [%s]%s", m["stage"].upper(), m["id"], m["kind"], m["zone"], objects,
                    m["rule"], " - loudspeaker warning" if event.speak else "")
        frame = self.last_frame
        if event.stage == "warning" and event.speak and self.speaker is not None:
            wall = frame.wall if frame is not None else time.time()  # quiet hours follow the camera's clock
            skipped = self.speaker.warn(m["kind"], event.violation.rule.warning_clip, wall)
            if skipped:
                log.info("loudspeaker: warning for %s not played: %s", m["id"], skipped)
        if self.evidence is not None and frame is not None:
            try:
                if event.stage == "alert":
                    self.evidence.on_alert(event.violation, m, frame.image, frame.wall)
                elif event.stage == "cleared" and self.evidence.on_cleared(event.violation, m, frame.image,
                                                                          frame.wall, frame.mono):
                    return  # released by the evidence writer once the bundle is sealed, with its hash
            except Exception as exc:  # evidence trouble (a full disk) must never hold back an alert
                log.error("evidence: %s %s: %s; the %s goes out without evidence", event.stage, m["id"], exc,
                          event.stage)
                self.evidence.degraded = True
        self.deliver(m)

    def close_interrupted(self) -> int:
        """End every violation an interruption left open (edge.interrupted); returns how many."""
        if self.sink is None:
            return 0
        from .interrupted import open_at_stop, restart_cleared
        from .rules import tail_events

        left = open_at_stop(tail_events(self.sink.path))
        for event in left:
            row = self.evidence.store.get(event["id"]) if self.evidence is not None else None
            message = restart_cleared(event, time.time(), row)
            log.warning("CLEARED %s: open when the node stopped unexpectedly; closed at start-up (reason restart%s)",
                        event["id"], ", evidence " + message["evidence"][:12] if message["evidence"] else "")
            self.deliver(message)
        return len(left)

    def deliver(self, message: dict) -> None:
        """Record a lifecycle message and hand it to the link (any thread)."""
        if self.fieldloop is not None:  # every lifecycle message names the model that made it
            self.fieldloop.name_model(message)
        if self.sink is not None:
            try:
                self.sink.write(message)
            except OSError as exc:
                log.error("lifecycle log: %s; message %s %s still goes to the hub", exc, message["id"], message["stage"])
        if self.link is not None:
            self.link.publish_alert(message)

    def _report(self, rate: float) -> None:
        s = self.source.stats
        parts = [f"fps {rate:.1f}"]
        if self.detect is not None:
            d = self.detect.stats
            runs, self._runs_at_report = d.detector_runs - self._runs_at_report, d.detector_runs
            seen = ", ".join(f"{n} {c}" for c, n in sorted(self._seen.items())) or "nothing"
            parts.append(f"detect {runs}/{d.frames - self._frames_at_report} frames, {d.inference_ms:.0f} ms | {seen}")
            self._frames_at_report = d.frames
        parts.append(f"source {self.source.state.value} | frames {s.captured} | dropped {s.dropped} "
                     f"| reconnects {s.reconnects}")
        link = "no link"
        if self.link is not None:
            box = self.link.outbox
            link = (f"link {'up' if self.link.mqtt.connected.is_set() else 'down'} | outbox {box.depth()}"
                    f" ({box.awaiting()} awaiting receipt)")
            problems = self.link.health()
            if problems:
                link += " | UNHEALTHY: " + "; ".join(problems)
            parts.append(link)
        log.info(" | ".join(parts))
        self._write_health(rate)
        self.watchdog.status(f"fps {rate:.1f}, source {self.source.state.value}, {link.replace(' |', ',')}")

    def _write_health(self, rate: float, **end) -> None:
        """The report as JSON in the state folder (edge.health), for tools that must not parse the log."""
        if self.health is None:
            return
        s = self.source.stats
        body = {"fps": round(rate, 2), "frames": s.captured, "dropped": s.dropped, "reconnects": s.reconnects,
                "source": self.source.state.value, "link_up": None, "outbox": None, "awaiting_receipt": None,
                "healthy": True, "problems": [], "stopped": False,
                "evidence_degraded": bool(self.evidence is not None and self.evidence.degraded)}
        if self.link is not None:
            problems = self.link.health()
            body.update(link_up=self.link.mqtt.connected.is_set(), outbox=self.link.outbox.depth(),
                        awaiting_receipt=self.link.outbox.awaiting(), healthy=not problems, problems=problems)
        self.health.write({**body, **end})

    # --- stats ---------------------------------------------------------------------------------
    def stats(self) -> dict:
        s = self.source.stats
        body = {
            "ts": now_iso(),
            "fps": round(self.meter.last, 2),
            "frames": s.captured,
            "dropped": s.dropped,
            "source": self.source.state.value,
            "reconnects": s.reconnects,
            "uptime_s": uptime_s(),
            "cpu_temp_c": cpu_temperature_c(),
            "disk_free_bytes": free_disk_bytes(self.state_dir) if self.state_dir else None,
            "evidence_bytes": self.evidence.store.used_bytes() if self.evidence is not None else 0,
            "open_violations": len(self.pipeline.rules.open),
            "speaker": self.speaker.state if self.speaker is not None else "none",
        }
        if self.detect is not None:
            body["inference_ms"] = round(self.detect.stats.inference_ms, 1)
            body["detector_runs"] = self.detect.stats.detector_runs
        if self.fieldloop is not None:
            body.update(self.fieldloop.stats())
        if self.link is not None:
            body["outbox_depth"] = self.link.outbox.depth()
            body["outbox_bytes"] = self.link.outbox.bytes
            body["outbox_over_limit"] = self.link.outbox.over_limit
            body["outbox_awaiting_receipt"] = self.link.outbox.awaiting()
            body["outbox_resent"] = self.link.outbox.resent
            body.update(self.link.upload_stats())  # link estimate, evidence queued, oldest wait
            problems = self.link.health()
            body["healthy"] = not problems
            if problems:
                body["problems"] = problems
        return body

    def _watch_degraded(self) -> None:
        if self.evidence is not None and self.evidence.degraded != self._degraded:
            self._degraded = self.evidence.degraded
            log.warning("evidence: %s", "DEGRADED: storage is full of bundles that may not be deleted; clips stop, "
                        "snapshots go on" if self._degraded else "storage available again; clips resume")
            if self.link is not None:
                self.link.refresh_status()
            self._write_health(self.meter.last)

    def _maybe_stats(self) -> None:
        now = time.monotonic()
        if now - self._last_stats >= self.profile.link.stats_interval_s:
            self._last_stats = now
            self.link.publish_stats(self.stats())
