"""The commands a node takes from the hub, as methods of the node (mixed into edge.node.Node).

Each runs on the node's own thread, between frames, with its args already checked by their model
(edge.contract.commands; the router refuses bad args before a handler runs): `command.params`.
"""

from __future__ import annotations

import time

import cv2

from . import __version__
from .config import ConfigError, load_profile
from .evidence.verdict import hub_verdict
from .link import Command, CommandRefused
from .link.commands import Handler
from .link.stats import uptime_s
from .pipeline import Pipeline
from .speaker import SpeakError
from .util import write_atomic


class NodeCommands:
    """Needs the node's profile, pipeline, last_frame, evidence, speaker, link, state_dir, profile_path,
    detect and poses, and its `_handle` for the lifecycle events a command causes."""

    def commands(self) -> list[tuple[str, Handler]]:
        """The commands this node takes (their args models: edge.contract.commands.ARGS)."""
        handlers: list[tuple[str, Handler]] = [("ping", self._cmd_ping), ("zone", self._cmd_zone),
                                               ("snapshot", self._cmd_snapshot), ("config", self._cmd_config)]
        if self.evidence is not None:
            handlers.append(("evidence_hold", self._cmd_evidence_hold))
            handlers.append(("evidence_ack", self._cmd_evidence_ack))
        if self.speaker is not None:
            handlers.append(("speak", self._cmd_speak))
        return handlers

    def _cmd_ping(self, command: Command, reply) -> None:
        reply(True, None, {"version": __version__, "uptime_s": uptime_s(), "source": self.source.state.value})

    def _cmd_zone(self, command: Command, reply) -> None:
        name, armed = command.params.zone, command.params.armed
        if name not in self.pipeline.rules.zones:
            raise CommandRefused(f"unknown zone {name!r} (zones: {', '.join(self.pipeline.rules.zones)})")
        for event in self.pipeline.rules.arm_zone(name, armed, self.last_frame.wall if self.last_frame else time.time()):
            self._handle(event)
        reply(True, None, {"zone": name, "armed": armed})

    def _cmd_speak(self, command: Command, reply) -> None:
        """Queued ahead of automatic warnings; the result comes when it has played (or failed)."""
        args = command.params
        try:
            self.speaker.speak(clip=args.clip, text=args.text, volume=args.volume, repeat=args.repeat,
                               done=lambda ok, error: reply(ok, error, {"played": ok}))
        except SpeakError as exc:
            raise CommandRefused(str(exc)) from None

    def _cmd_evidence_ack(self, command: Command, reply) -> None:
        hub_verdict(self.evidence.store, self.link.upload_store, command, reply)

    def _cmd_evidence_hold(self, command: Command, reply) -> None:
        bundle, hold = command.params.bundle, command.params.hold
        if not self.evidence.store.set_hold(bundle, hold):
            raise CommandRefused(f"no evidence bundle {bundle!r} on this node")
        reply(True, None, {"id": bundle, "bundle": bundle, "hold": hold})

    def _cmd_snapshot(self, command: Command, reply) -> None:
        frame = self.last_frame
        if frame is None or self.state_dir is None:
            raise CommandRefused("no frame yet")
        folder = self.state_dir / "snapshots"
        folder.mkdir(parents=True, exist_ok=True)
        name = time.strftime("%Y%m%dT%H%M%S", time.localtime(frame.wall)) + f"-{command.id[:16]}.jpg"
        ok, data = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise CommandRefused("could not encode the frame")
        write_atomic(folder / name, data.tobytes(), 0o644)
        result = {"file": name, "bytes": len(data), "size": list(frame.size)}
        width = command.params.thumbnail
        if width is not None:  # the hub shows it: a small copy comes back inline
            from .contract.thumbnail import jpeg_b64

            result["jpeg_b64"] = jpeg_b64(frame.image, width)
        reply(True, None, result)

    def _cmd_config(self, command: Command, reply) -> None:
        """Validate a whole new profile; apply rules, zones and tracking at once; keep the old file."""
        text = command.params.toml
        if self.profile_path is None:
            raise CommandRefused("config needs args {\"toml\": PROFILE TEXT}")
        try:
            new = load_profile(self.profile_path, text=text)
        except ConfigError as exc:
            raise CommandRefused("invalid profile, nothing changed: "
                                 + "; ".join(str(p) for p in exc.problems[:5])) from None
        if new.node.id != self.profile.node.id:
            raise CommandRefused("a config command cannot change the node id")
        live = ("zones", "rules", "track")
        restart = [k for k in type(new).model_fields if k not in live and getattr(new, k) != getattr(self.profile, k)]
        backup = self.profile_path.with_name(self.profile_path.name + ".previous")
        write_atomic(backup, self.profile_path.read_bytes(), 0o644)
        write_atomic(self.profile_path, text, 0o644)
        wall = self.last_frame.wall if self.last_frame else time.time()
        for event in self.pipeline.close(wall, reason="reconfigured"):
            self._handle(event)
        self.profile = new
        self.pipeline = Pipeline(new, self.detect, self.poses if new.telemetry is not None else None)
        reply(True, None, {"applied": list(live), "restart_required": restart, "previous": backup.name})
