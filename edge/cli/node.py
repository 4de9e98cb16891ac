"""edge-node: run a node, check profiles, and (as the product grows) manage keys, models, evidence."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from zoneinfo import ZoneInfo

from .. import __version__
from ..config import ConfigError, load_profile
from ..config.rules import basis_lines
from ..logs import route_native_stderr, setup_logging
from ..statelock import StateDirBusy, lock_state_dir

log = logging.getLogger("edge.node")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def cmd_check_config(args: argparse.Namespace) -> int:
    status = EXIT_OK
    for file in args.files:
        try:
            profile = load_profile(file)
        except ConfigError as exc:
            for line in exc.lines():
                print(line, file=sys.stderr)
            status = EXIT_USAGE
            continue
        problem = _model_session_problem(profile)
        if problem:
            print(f"{file}: detect.model: {problem}", file=sys.stderr)
            status = EXIT_USAGE
            continue
        for warning in _profile_warnings(profile):
            print(f"{file}: warning: {warning}", file=sys.stderr)
        print(f"{file}: ok")
        for line in basis_lines(profile):
            print(f"{file}: {line}")
    return status


def _model_session_problem(profile) -> str | None:
    """Open the model the way `run` does: a file whose hash matches its manifest can still be no
    model at all (INVALID_PROTOBUF), and `run` would only find out after start-up."""
    if profile.detect.model is None:
        return None
    from ..detect import ModelError
    from ..pipeline import build_detection

    try:
        build_detection(profile, threads=1)
    except ModelError as exc:
        return str(exc)
    except Exception as exc:  # onnxruntime's own errors (InvalidProtobuf, Fail, ...) have no common base
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"{profile.resolve(profile.detect.model)}: the ONNX runtime cannot load it: {first}"
    return None


def _profile_warnings(profile) -> list[str]:
    link = profile.link
    warnings = []
    if link.enabled and link.tls is None and (link.password_env or link.password_file):
        warnings.append(f"link: the broker password goes to {link.host}:{link.port} in clear text (no [link] tls); "
                        "use TLS on a real site (docs/security.md)")
    return warnings


class EvidenceSetupError(Exception):
    pass


def build_evidence(profile, state_dir: Path, stage, source, profile_path: Path, deliver):
    """The evidence recorder and its encoder, tapped into the source; None without a model or when off."""
    from ..crypto import KeyFileError, load_private_key
    from ..detect.model import sha256_file
    from ..evidence import EvidenceRecorder, EvidenceStore, PrerollBuffer, SoftwareEncoder

    cfg = profile.evidence
    if not cfg.enabled or stage is None:
        return None
    key_path = state_dir / "keys" / "node.key"
    try:
        key = load_private_key(key_path)
    except KeyFileError:
        raise EvidenceSetupError(f"no node signing key at {key_path}; make one with "
                                 f"`edge-node keys init --state-dir {state_dir}`") from None
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
                            deliver=deliver, context=context, encoder=encoder)


def build_speaker(profile, state_dir: Path):
    """The loudspeaker the profile asks for, or None; a broken clip library stops the start-up."""
    from ..config.rules import ScheduleConfig
    from ..rules.schedule import Schedule
    from ..speaker import AlsaSink, ClipLibrary, FileSink, NullSink, Speaker, Tts

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


def _close_evidence(recorder) -> None:
    if recorder is not None:
        recorder.shutdown()


def _fail(message: str) -> int:
    print(f"edge-node: {message}", file=sys.stderr)
    return EXIT_USAGE


def _claim_state_dir(state_dir: Path) -> str | None:
    """Create and lock the state folder (one node per folder); the one-line problem, or None."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        lock_state_dir(state_dir)
    except StateDirBusy as exc:
        return str(exc)
    except OSError as exc:
        return f"state folder {state_dir}: {exc.strerror}; set [node] state_dir or --state-dir"
    return None


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def on_signal(signum: int, _frame) -> None:
        stop.set()
        # Not logged here: the handler runs between two bytecodes of the main thread, which may be in
        # the middle of writing a log line, and a buffered stream refuses a reentrant write ("Logging
        # error", then a node that did not stop).  A thread of its own waits for the handler's lock.
        threading.Thread(target=log.info, args=("%s received, stopping", signal.Signals(signum).name),
                         name="signal-log").start()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    return stop


def run_dock(profile, args: argparse.Namespace, stop: threading.Event) -> int:
    """A body-worn recorder dock: no camera; ingest, seal, upload, clean up after the hub."""
    from ..crypto import KeyFileError, load_private_key
    from ..evidence import EvidenceStore
    from ..link import LinkError, NodeLink
    from ..sync import Dock
    from ..sync.runner import DockRunner
    from ..watchdog import Watchdog

    state_dir = resolve_state_dir(args)
    problem = _claim_state_dir(state_dir)
    if problem:
        return _fail(problem)
    key_path = state_dir / "keys" / "node.key"
    try:
        key = load_private_key(key_path)
    except KeyFileError:
        return _fail(f"no node signing key at {key_path}; make one with `edge-node keys init --state-dir {state_dir}`")
    store = EvidenceStore(state_dir)
    store.recover(key)
    link = None
    if profile.link.enabled and not args.no_link:
        try:
            link = NodeLink(profile, state_dir, __version__).start()
        except LinkError as exc:
            store.close()
            return _fail(str(exc))
    dock = Dock(profile.resolve(profile.dock.mount_dir), state_dir, store, key, node=profile.node.id,
                tz=ZoneInfo(profile.node.timezone), delete_after_upload=profile.dock.delete_after_upload,
                on_sealed=(lambda bundle, sha: link.queue_bundle(store.folder(bundle), sha, kind="dock"))
                if link is not None else None)
    if link is not None:
        for row in store.rows():
            if row.state == "sealed" and not row.acked and row.manifest_sha256:
                link.queue_bundle(store.folder(row.id), row.manifest_sha256, kind="dock")
    log.info("edge-node %s: dock %s; state in %s", __version__, profile.node.id, state_dir)
    try:
        DockRunner(profile, dock, link, state_dir, watchdog=Watchdog.from_env()).run(stop, duration_s=args.duration)
    finally:
        if link is not None:
            link.stop()
        dock.close()
        store.close()
    log.info("dock stopped")
    return EXIT_OK


def start_telemetry(profile, source):
    """The pose track a drone's pipeline reads and the reader that fills it (None for sim)."""
    if profile.telemetry is None:
        return None, None
    from ..capture.sim import SimSource
    from ..telemetry import Pose, PoseTrack, open_telemetry
    from ..telemetry.sources import TelemetryError

    poses = PoseTrack()
    if profile.telemetry.source == "sim":
        if not (isinstance(source, SimSource) and source.aerial):
            raise TelemetryError(f"telemetry.source = \"sim\" needs a sim: source of a drone scenario, "
                                 f"not {source.name}")
        source.on_telemetry = lambda sample: poses.add(Pose.from_sample(sample))
        return poses, None
    reader = open_telemetry(profile.telemetry.source, poses, profile.base_dir)
    log.info("telemetry from %s", profile.telemetry.source)
    return poses, reader


def startup_environment_problem(profile, uri: str, args: argparse.Namespace) -> str | None:
    """A variable the source URI or the broker password needs and that is not set, as one line.

    Checked before anything starts: under systemd a traceback here was a restart loop every 3 s.
    """
    from ..capture.uri import SourceUriError, expand_env, redact_uri

    where = "--source" if args.source else f"{args.config}: capture.source"
    try:
        expand_env(uri)
    except SourceUriError as exc:
        return f"{where} {redact_uri(uri)}: {exc}"
    link = profile.link
    if link.enabled and not args.no_link and link.password_env and link.password_env not in os.environ:
        return (f"{args.config}: link.password_env: environment variable {link.password_env} is not set "
                "(put it in the unit's EnvironmentFile, e.g. /etc/edge/<profile>.env)")
    return None


def _with_model(extra, node_ref):
    """Status extras plus the running model's name, version and hash (issue 21)."""
    def status() -> dict:
        body = extra() if extra is not None else {}
        if node_ref and node_ref[0].fieldloop is not None:
            body["model"] = node_ref[0].fieldloop.model()
        return body
    return status


def cmd_run(args: argparse.Namespace) -> int:
    from ..capture import SourceError, SourceState, open_source
    from ..config.profile import parse_override
    from ..detect import ModelError
    from ..link import LinkError, NodeLink
    from ..node import Node
    from ..pipeline import build_detection
    from ..rules import JsonlSink, tail_events
    from ..speaker import SpeakError
    from ..telemetry.sources import TelemetryError
    from ..watchdog import Watchdog, stall_limit_s

    try:
        overrides = [parse_override(item) for item in args.set]
    except ValueError as exc:
        return _fail(str(exc))
    try:
        profile = load_profile(args.config, overrides=overrides)
    except ConfigError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return EXIT_USAGE
    setup_logging(profile.node.id, args.log_level)
    route_native_stderr()
    for warning in _profile_warnings(profile) if not args.no_link else ():
        log.warning(warning)
    # From here on a SIGTERM (systemd stopping a node that is still starting) stops cleanly.
    stop = _stop_on_signals()
    if profile.node.kind == "dock":
        return run_dock(profile, args, stop)
    uri = args.source or profile.source_uri()
    if uri is None:
        return _fail(f"{args.config}: capture: this profile has no camera")
    problem = startup_environment_problem(profile, uri, args)
    if problem:
        return _fail(problem)
    state_dir = resolve_state_dir(args, profile)
    problem = _claim_state_dir(state_dir)
    if problem:
        return _fail(problem)
    try:
        stage = build_detection(profile)
    except ModelError as exc:
        return _fail(str(exc))
    try:
        sink = JsonlSink(state_dir / "lifecycle.jsonl")
    except OSError as exc:
        return _fail(f"state folder {state_dir}: {exc.strerror}; set [node] state_dir or --state-dir")
    try:
        source = open_source(uri, profile.capture)
    except SourceError as exc:
        sink.close()
        return _fail(str(exc))
    node_ref: list = []
    try:
        evidence = build_evidence(profile, state_dir, stage, source, args.config,
                                  deliver=lambda message: node_ref[0].deliver(message))
    except EvidenceSetupError as exc:
        sink.close()
        return _fail(str(exc))
    try:
        speaker = build_speaker(profile, state_dir)
    except SpeakError as exc:
        _close_evidence(evidence)
        sink.close()
        return _fail(str(exc))
    link = None
    if profile.link.enabled and not args.no_link:
        try:
            extra = (lambda: {"evidence_degraded": evidence.degraded}) if evidence is not None else None
            extra = _with_model(extra, node_ref)  # issue 21 hook: status names the model
            link = NodeLink(profile, state_dir, __version__, status_extra=extra).start()
        except LinkError as exc:
            _close_evidence(evidence)
            sink.close()
            return _fail(str(exc))
    if link is not None:
        link.requeue_logged(tail_events(sink.path))
    if link is not None and evidence is not None and link.upload_store is not None:
        evidence.on_sealed = lambda bundle, sha: link.queue_bundle(evidence.store.folder(bundle), sha)
        for row in evidence.store.rows():  # what earlier runs sealed and the hub has not verified yet
            if row.state == "sealed" and not row.acked and row.manifest_sha256:
                link.queue_bundle(evidence.store.folder(row.id), row.manifest_sha256)
    try:
        source.start()
    except SourceError as exc:
        if link is not None:
            link.stop()
        _close_evidence(evidence)
        sink.close()
        return _fail(str(exc))

    try:
        poses, telemetry = start_telemetry(profile, source)
    except TelemetryError as exc:
        source.stop()
        if link is not None:
            link.stop()
        _close_evidence(evidence)
        sink.close()
        return _fail(str(exc))

    log.info("edge-node %s: node %s reading %s; state in %s", __version__, profile.node.id, source.name, state_dir)
    node = Node(profile, source, detect=stage, sink=sink, link=link, state_dir=state_dir,
                profile_path=args.config.resolve(), evidence=evidence, speaker=speaker, poses=poses,
                watchdog=Watchdog.from_env(stall_s=stall_limit_s(profile.capture)))
    node_ref.append(node)
    from ..fieldloop import FieldLoop  # issue 21 hook: rollout and dataset capture

    try:
        node.fieldloop = FieldLoop(profile, state_dir, stage, evidence=evidence, link=link)
    except (OSError, ValueError) as exc:  # a full disk or a damaged models/rollout.json: the node still runs
        log.error("model rollout and dataset capture are off: %s", exc)
    try:
        summary = node.run(stop, duration_s=args.duration, max_frames=args.max_frames)
        if node.fieldloop is not None:  # issue 21 hook: a clean stop (a crash leaves the model on probation)
            node.fieldloop.close()
    finally:
        source.stop()
        if telemetry is not None:
            telemetry.stop()
        _close_evidence(evidence)
        if speaker is not None:
            speaker.stop()
        if link is not None:
            link.stop()
        sink.close()
    log.info("stopped after %d frames in %.1f s (%.1f fps average); source %s",
             summary.frames, summary.seconds, summary.fps, source.state.value)
    if summary.final_state == SourceState.FAILED:
        print(f"edge-node: {summary.error}", file=sys.stderr)
        return EXIT_USAGE if summary.frames == 0 else EXIT_FAILED
    return EXIT_OK


def resolve_state_dir(args: argparse.Namespace, profile=None) -> Path:
    """--state-dir, else $EDGE_STATE_DIR, else the profile's [node] state_dir, else the default."""
    if getattr(args, "state_dir", None):
        return args.state_dir.resolve()
    if os.environ.get("EDGE_STATE_DIR"):
        return Path(os.environ["EDGE_STATE_DIR"]).resolve()
    if profile is None and getattr(args, "config", None):
        profile = load_profile(args.config)
    if profile is not None:
        return profile.node.state_dir.resolve()
    return Path("/var/lib/edge-node")


def cmd_keys_init(args: argparse.Namespace) -> int:
    from ..crypto import generate_keypair

    keys = resolve_state_dir(args) / "keys"
    try:
        generate_keypair(keys / "node.key", keys / "node.pub", overwrite=args.force)
    except FileExistsError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"{keys}: {exc.strerror}")
    print(f"node signing key: {keys / 'node.key'} (mode 0600; never copy it off the box)")
    print(f"node public key:  {keys / 'node.pub'} (give it to the hub: it verifies this node's evidence)")
    return EXIT_OK


def _open_store(args: argparse.Namespace, *, read_only: bool = False):
    """The evidence store; `read_only` for inspection (a read-only mount, a running node)."""
    from ..evidence import EvidenceStore

    state = resolve_state_dir(args)
    if not (state / "evidence.db").exists():
        raise FileNotFoundError(f"no evidence in {state} (use --state-dir or --config)")
    return state, (EvidenceStore.inspect(state) if read_only else EvidenceStore(state))


def cmd_evidence_list(args: argparse.Namespace) -> int:
    import json
    from datetime import datetime

    try:
        state, store = _open_store(args, read_only=True)
    except FileNotFoundError as exc:
        return _fail(str(exc))
    rows = store.rows(include_deleted=args.all)
    print(f"{'seq':>5}  {'bundle':54} {'state':7} {'created':19} {'bytes':>10}  flags")
    for row in rows:
        flags = [name for name, on in (("incomplete", row.incomplete), ("degraded", row.degraded),
                                       ("uploaded", row.acked), ("hold", row.hold), ("deleted", row.deleted)) if on]
        created = datetime.fromtimestamp(row.created).strftime("%Y-%m-%d %H:%M:%S")
        print(f"{row.seq if row.seq else '-':>5}  {row.id:54} {row.state:7} {created:19} {row.bytes:>10}  "
              f"{','.join(flags)}")
    print(f"{len(rows)} bundle(s), {store.used_bytes()} bytes in {store.root}")
    if args.json:
        print(json.dumps([row.__dict__ for row in rows]))
    store.close()
    return EXIT_OK


def cmd_evidence_verify(args: argparse.Namespace) -> int:
    from ..crypto import KeyFileError, load_public_key
    from ..evidence.verify import verify_store

    if not args.all and not args.id:
        return _fail("name a bundle, or --all")
    try:
        state, store = _open_store(args, read_only=True)
        key = load_public_key(args.key or state / "keys" / "node.pub")
    except (FileNotFoundError, KeyFileError) as exc:
        return _fail(str(exc))
    verdicts = verify_store(store, key, None if args.all else args.id)
    store.close()
    if not verdicts and args.all:  # an empty store has nothing wrong in it
        print("0 bundle(s): nothing to verify")
        return EXIT_OK
    if not verdicts:
        return _fail(f"no bundle {args.id}")
    bad = [v for v in verdicts if not v.ok]
    for v in verdicts:
        print(f"{v.bundle}: {'ok' if v.ok else 'FAILED: ' + v.problem}")
    if bad:
        print(f"edge-node: {bad[0].problem}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{len(verdicts)} bundle(s) verified: files, signatures and chain intact")
    return EXIT_OK


def cmd_evidence_export(args: argparse.Namespace) -> int:
    from ..crypto import KeyFileError, load_public_key
    from ..evidence import BundleProblem
    from ..evidence.verify import export_bundle, verify_store

    if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())):
        return _fail(f"{args.out} exists; export into a new folder (nothing was overwritten)")
    try:
        state, store = _open_store(args, read_only=True)
        key_path = args.key or state / "keys" / "node.pub"
        key = load_public_key(key_path)
    except (FileNotFoundError, KeyFileError) as exc:
        return _fail(str(exc))
    try:
        # Verify first: a bundle that does not verify is evidence of tampering, not a hand-over.
        verdicts = [v for v in verify_store(store, key, args.id) if v.bundle == args.id]
        if not verdicts:
            return _fail(f"no bundle {args.id}")
        bad = [v for v in verdicts if not v.ok]
        if bad:
            print(f"edge-node: {args.id} does not verify, not exported: {bad[0].problem}", file=sys.stderr)
            return EXIT_FAILED
        out = export_bundle(store, args.id, key_path, args.out)
    except (FileNotFoundError, BundleProblem) as exc:
        return _fail(str(exc))
    finally:
        store.close()
    print(f"{out}: exported and verified; see {out / 'README.txt'} for how to check it with sha256sum and openssl")
    return EXIT_OK


def cmd_evidence_hold(args: argparse.Namespace) -> int:
    try:
        _, store = _open_store(args)
    except FileNotFoundError as exc:
        return _fail(str(exc))
    ok = store.set_hold(args.id, not args.release)
    store.close()
    if not ok:
        return _fail(f"no bundle {args.id}")
    print(f"{args.id}: {'released' if args.release else 'on hold: retention will not delete it'}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge-node", description="Edge node for law-enforcement camera boxes.")
    parser.add_argument("--version", action="version", version=f"edge-node {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="run the node on a profile")
    p.add_argument("--config", required=True, type=Path, help="device profile (TOML)")
    p.add_argument("--source", help="frame source URI, overriding the profile "
                   "(sim:PATH.toml, file:PATH, usb:N, rtsp://..., picamera2:)")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    p.add_argument("--max-frames", type=int, metavar="N", help="stop after N frames")
    p.add_argument("--state-dir", type=Path, help="state folder, overriding $EDGE_STATE_DIR and [node] state_dir")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a profile value, e.g. --set link.host=127.0.0.1 (repeatable)")
    p.add_argument("--no-link", action="store_true", help="run without the MQTT link (events stay on disk)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("check-config", help="validate device profiles (exit 2 on any problem)")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.set_defaults(func=cmd_check_config)

    state_opts = argparse.ArgumentParser(add_help=False)
    state_opts.add_argument("--state-dir", type=Path, help="the node's state folder")
    state_opts.add_argument("--config", type=Path, help="take the state folder from this profile")

    keys = sub.add_parser("keys", help="the node's evidence-signing key pair")
    ksub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    p = ksub.add_parser("init", parents=[state_opts], help="make keys/node.key and keys/node.pub in the state folder")
    p.add_argument("--force", action="store_true", help="replace an existing key (breaks nothing sealed before)")
    p.set_defaults(func=cmd_keys_init)

    evidence = sub.add_parser("evidence", help="list, verify, export and hold evidence bundles")
    esub = evidence.add_subparsers(dest="evidence_command", required=True, metavar="ACTION")
    p = esub.add_parser("list", parents=[state_opts], help="a table of the bundles")
    p.add_argument("--all", action="store_true", help="include bundles retention has deleted")
    p.add_argument("--json", action="store_true", help="also print the rows as JSON")
    p.set_defaults(func=cmd_evidence_list)
    p = esub.add_parser("verify", parents=[state_opts],
                        help="recompute hashes, check signatures and the chain (exit 1 naming the first bad file)")
    p.add_argument("id", nargs="?", help="one bundle")
    p.add_argument("--all", action="store_true", help="every kept bundle")
    p.add_argument("--key", type=Path, help="node public key (default keys/node.pub in the state folder)")
    p.set_defaults(func=cmd_evidence_verify)
    p = esub.add_parser("export", parents=[state_opts], help="copy a bundle to a self-contained folder")
    p.add_argument("id")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--key", type=Path, help="node public key to include (default keys/node.pub)")
    p.set_defaults(func=cmd_evidence_export)
    p = esub.add_parser("hold", parents=[state_opts], help="keep a bundle from retention (or --release it)")
    p.add_argument("id")
    p.add_argument("--release", action="store_true")
    p.set_defaults(func=cmd_evidence_hold)

    from .model import add_model_parser

    add_model_parser(sub)

    from ..bundle import add_provision

    add_provision(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
