"""Build a node from its profile, and take it down again, in one fixed order.

The CLI (`edge-node run`) parses its arguments and calls `build_node`; a test, the simulator or a
service builds a node in-process the same way:

    with build_node(profile, profile_path, uri="file:clip.mp4", state_dir=folder) as node:
        node.run(stop)

Order of construction: the lifecycle log, the frame source (opened, not started), the loudspeaker,
the evidence recorder (tapped into the source), the MQTT link (its status reads the recorder's
degraded flag), then the source starts, then telemetry.  Teardown is the exact reverse for the
running parts: source, telemetry, evidence (seals what is open; its messages still reach the link),
loudspeaker, link, lifecycle log, each once, whatever failed on the way.  The evidence writer talks
to the node through a `Handoff` given to both at construction; nothing is patched in afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

from . import __version__
from .statelock import StateDirBusy, lock_state_dir

log = logging.getLogger("edge.node")


class StartupError(Exception):
    """One line saying why the node cannot start (the CLI prints it and exits 2)."""


def claim_state_dir(state_dir: Path) -> None:
    """Create and lock the state folder (one node per folder); StartupError says why not."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        lock_state_dir(state_dir)
    except StateDirBusy as exc:
        raise StartupError(str(exc)) from None
    except OSError as exc:
        raise StartupError(f"state folder {state_dir}: {exc.strerror}; set [node] state_dir or --state-dir") from None


def load_node_key(state_dir: Path):
    from .crypto import KeyFileError, load_private_key

    key_path = state_dir / "keys" / "node.key"
    try:
        return load_private_key(key_path)
    except KeyFileError:
        raise StartupError(f"no node signing key at {key_path}; make one with "
                           f"`edge-node keys init --state-dir {state_dir}`") from None


def build_evidence(profile, state_dir: Path, stage, source, profile_path: Path, *, deliver, on_sealed=None):
    """The evidence recorder and its encoder, tapped into the source; None without a model or when off."""
    from .detect.model import sha256_file
    from .evidence import EvidenceRecorder, EvidenceStore, PrerollBuffer, SoftwareEncoder

    cfg = profile.evidence
    if not cfg.enabled or stage is None:
        return None
    key = load_node_key(state_dir)
    store = EvidenceStore(state_dir)
    recovered = store.recover(key)
    if recovered:
        log.warning("evidence: %d bundle(s) left open by an interruption were sealed as incomplete", len(recovered))
    buffer = PrerollBuffer(cfg.buffer_s, cfg.buffer_max_bytes)
    encoder = SoftwareEncoder(buffer, crf=cfg.crf, gop_s=cfg.gop_s, max_fps=cfg.encode_fps,
                              blocking=not source.realtime).start()
    source.taps.append(encoder.submit)
    model = stage.detector.model
    context = {"model": {"name": model.manifest.name, "version": model.manifest.version,
                         "sha256": model.manifest.sha256},
               "config_sha256": sha256_file(profile_path), "software": __version__}
    return EvidenceRecorder(cfg, store, key, buffer, node=profile.node.id, tz=ZoneInfo(profile.node.timezone),
                            deliver=deliver, on_sealed=on_sealed, context=context, encoder=encoder)


def build_speaker(profile, state_dir: Path):
    """The loudspeaker the profile asks for, or None; a broken clip library stops the start-up."""
    from .config.rules import ScheduleConfig
    from .rules.schedule import Schedule
    from .speaker import AlsaSink, ClipLibrary, FileSink, NullSink, Speaker, Tts

    cfg = profile.speaker
    if not cfg.enabled:
        return None
    library = ClipLibrary(profile.speaker_library())
    if cfg.sink == "alsa":
        sink = AlsaSink(cfg.device)
        if sink.state == "missing":
            log.warning("speaker: aplay is not installed (apt install alsa-utils); warnings cannot be played")
    elif cfg.sink == "file":
        sink = FileSink(profile.resolve(cfg.out_dir) if cfg.out_dir else state_dir / "speaker",
                        realtime=cfg.file_realtime)
    else:
        sink = NullSink()
    quiet = Schedule.from_config(ScheduleConfig(hours=cfg.quiet_hours), profile.node.timezone) \
        if cfg.quiet_hours else None
    return Speaker(sink, library, Tts(state_dir / "tts-cache", cfg.tts_voice, library.speed), volume=cfg.volume,
                   repeat=cfg.repeat, quiet_hours=quiet, max_per_minute=cfg.max_per_minute, queue_size=cfg.queue)


def start_telemetry(profile, source):
    """The pose track a drone's pipeline reads and the reader that fills it (None for a source's own)."""
    if profile.telemetry is None:
        return None, None
    from .telemetry import Pose, PoseTrack, open_telemetry
    from .telemetry.sources import TelemetryError

    poses = PoseTrack()
    if profile.telemetry.source == "sim":
        if not source.feed_telemetry(lambda sample: poses.add(Pose.from_sample(sample))):
            raise TelemetryError(f"telemetry.source = \"sim\" needs a sim: source of a drone scenario, "
                                 f"not {source.name}")
        return poses, None
    reader = open_telemetry(profile.telemetry.source, poses, profile.base_dir)
    log.info("telemetry from %s", profile.telemetry.source)
    return poses, reader


def environment_problem(profile, uri: str, *, link: bool, where: str, config: Path | str) -> str | None:
    """A variable the source URI or the broker password needs and that is not set, as one line.

    Checked before anything starts: under systemd a traceback here was a restart loop every 3 s.
    """
    from .capture.uri import SourceUriError, expand_env, redact_uri

    try:
        expand_env(uri)
    except SourceUriError as exc:
        return f"{where} {redact_uri(uri)}: {exc}"
    cfg = profile.link
    if cfg.enabled and link and cfg.password_env and cfg.password_env not in os.environ:
        return (f"{config}: link.password_env: environment variable {cfg.password_env} is not set "
                "(put it in the unit's EnvironmentFile, e.g. /etc/edge/<profile>.env)")
    return None


@contextlib.contextmanager
def build_node(profile, profile_path: Path, *, uri: str, state_dir: Path, link: bool = True,
               watchdog=None, detect_threads: int | None = None) -> Iterator:
    """A running node's parts around a `Node` (not yet running: call `node.run(stop)`).

    Raises StartupError with one line for anything the operator must fix; whatever was started
    before it is stopped again in order.  `state_dir` must be claimed already (claim_state_dir)."""
    from .capture import SourceError, open_source
    from .detect import ModelError
    from .link import LinkError, NodeLink
    from .node import Handoff, Node
    from .pipeline import build_detection
    from .rules import JsonlSink, tail_events
    from .speaker import SpeakError
    from .telemetry.sources import TelemetryError

    try:
        stage = build_detection(profile) if detect_threads is None else build_detection(profile, threads=detect_threads)
    except ModelError as exc:
        raise StartupError(str(exc)) from None
    with contextlib.ExitStack() as stack:
        try:
            sink = JsonlSink(state_dir / "lifecycle.jsonl")
        except OSError as exc:
            raise StartupError(f"state folder {state_dir}: {exc.strerror}; set [node] state_dir or --state-dir") \
                from None
        stack.callback(sink.close)
        try:
            source = open_source(uri, profile.capture)  # built, not started: nothing to stop yet
        except SourceError as exc:
            raise StartupError(str(exc)) from None
        linked = profile.link.enabled and link
        handoff = Handoff()
        # The loudspeaker and the evidence recorder are built before the link (its status reports the
        # recorder's degraded flag) but stop after the source and before the link: their teardown waits
        # in `later` and joins the stack once the link is on it.
        with contextlib.ExitStack() as later:
            try:
                speaker = build_speaker(profile, state_dir)
            except SpeakError as exc:
                raise StartupError(str(exc)) from None
            if speaker is not None:
                later.callback(speaker.stop)
            evidence = build_evidence(profile, state_dir, stage, source, profile_path, deliver=handoff.deliver,
                                      on_sealed=handoff.sealed if linked and profile.upload.enabled else None)
            if evidence is not None:
                later.callback(evidence.shutdown)
            node_link = None
            if linked:
                try:
                    node_link = NodeLink(profile, state_dir, __version__,
                                         status_extra=_status_extra(evidence, stage)).start()
                except LinkError as exc:
                    raise StartupError(str(exc)) from None
                stack.callback(node_link.stop)
            stack.push(later.pop_all())
        if node_link is not None:
            node_link.requeue_logged(tail_events(sink.path))
            if evidence is not None and node_link.upload_store is not None:
                for row in evidence.store.rows():  # what earlier runs sealed and the hub has not verified yet
                    if row.state == "sealed" and not row.acked and row.manifest_sha256:
                        node_link.queue_bundle(evidence.store.folder(row.id), row.manifest_sha256)
        try:
            source.start()
        except SourceError as exc:
            raise StartupError(str(exc)) from None
        with contextlib.ExitStack() as started:  # telemetry stops after the source, which stops first
            try:
                poses, telemetry = start_telemetry(profile, source)
            except TelemetryError as exc:
                source.stop()
                raise StartupError(str(exc)) from None
            if telemetry is not None:
                started.callback(telemetry.stop)
            started.callback(source.stop)
            stack.push(started.pop_all())
        fieldloop = build_fieldloop(profile, state_dir, stage, evidence, node_link)
        log.info("edge-node %s: node %s reading %s; state in %s", __version__, profile.node.id, source.name,
                 state_dir)
        node = Node(profile, source, detect=stage, sink=sink, link=node_link, state_dir=state_dir,
                    profile_path=profile_path, evidence=evidence, speaker=speaker, poses=poses, watchdog=watchdog,
                    handoff=handoff, fieldloop=fieldloop)
        try:
            yield node
        finally:
            node.finish()  # a run that raised: what evidence holds still goes out before the link stops
        if fieldloop is not None:  # a clean stop only: a crash leaves a new model on probation
            fieldloop.close()


def _status_extra(evidence, stage):
    """What the link's status adds: the recorder's degraded flag and the model that runs now."""
    from .rollout.manager import describe

    def extra() -> dict:
        body = {"evidence_degraded": evidence.degraded} if evidence is not None else {}
        if stage is not None:
            body["model"] = describe(stage.detector)
        return body

    return extra


def build_fieldloop(profile, state_dir: Path, stage, evidence, node_link):
    """Model rollout and dataset capture (edge.fieldloop), or None when its state cannot be read:
    a full disk or a damaged models/rollout.json turns them off, never the node."""
    from .fieldloop import FieldLoop

    try:
        return FieldLoop(profile, state_dir, stage, evidence=evidence, link=node_link)
    except (OSError, ValueError) as exc:
        log.error("model rollout and dataset capture are off: %s", exc)
        return None


@contextlib.contextmanager
def build_dock(profile, state_dir: Path, *, link: bool = True, watchdog=None) -> Iterator:
    """A body-worn recorder dock's parts around its `DockRunner` (no camera): evidence store, link,
    dock; torn down in reverse (link, dock, store)."""
    from .evidence import EvidenceStore
    from .link import LinkError, NodeLink
    from .sync import Dock
    from .sync.runner import DockRunner

    key = load_node_key(state_dir)
    with contextlib.ExitStack() as stack:
        store = EvidenceStore(state_dir)
        stack.callback(store.close)
        store.recover(key)
        node_link = None
        if profile.link.enabled and link:
            try:
                node_link = NodeLink(profile, state_dir, __version__).start()
            except LinkError as exc:
                raise StartupError(str(exc)) from None
        with contextlib.ExitStack() as later:  # the link stops before the dock it uploads for
            if node_link is not None:
                later.callback(node_link.stop)
            on_sealed = (lambda bundle, sha: node_link.queue_bundle(store.folder(bundle), sha, kind="dock")) \
                if node_link is not None else None
            dock = Dock(profile.resolve(profile.dock.mount_dir), state_dir, store, key, node=profile.node.id,
                        tz=ZoneInfo(profile.node.timezone), delete_after_upload=profile.dock.delete_after_upload,
                        on_sealed=on_sealed)
            stack.callback(dock.close)
            stack.push(later.pop_all())
        if node_link is not None:
            for row in store.rows():
                if row.state == "sealed" and not row.acked and row.manifest_sha256:
                    node_link.queue_bundle(store.folder(row.id), row.manifest_sha256, kind="dock")
        log.info("edge-node %s: dock %s; state in %s", __version__, profile.node.id, state_dir)
        yield DockRunner(profile, dock, node_link, state_dir, watchdog=watchdog)
