"""edge-node: run a node, check profiles, and (as the product grows) manage keys, models, evidence."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from .. import __version__
from ..config import ConfigError, load_profile
from ..logs import setup_logging

log = logging.getLogger("edge.node")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def cmd_check_config(args: argparse.Namespace) -> int:
    status = EXIT_OK
    for file in args.files:
        try:
            load_profile(file)
        except ConfigError as exc:
            for line in exc.lines():
                print(line, file=sys.stderr)
            status = EXIT_USAGE
        else:
            print(f"{file}: ok")
    return status


def _fail(message: str) -> int:
    print(f"edge-node: {message}", file=sys.stderr)
    return EXIT_USAGE


def cmd_run(args: argparse.Namespace) -> int:
    from ..capture import SourceError, SourceState, open_source
    from ..config.profile import parse_override
    from ..detect import ModelError
    from ..link import LinkError, NodeLink
    from ..node import Node
    from ..pipeline import build_detection
    from ..rules import JsonlSink

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
    uri = args.source or profile.source_uri()
    if uri is None:
        return _fail(f"{args.config}: capture: this profile has no camera; nothing to run yet")
    try:
        stage = build_detection(profile)
    except ModelError as exc:
        return _fail(str(exc))
    env_state = os.environ.get("EDGE_STATE_DIR")
    state_dir = (args.state_dir or (Path(env_state) if env_state else profile.node.state_dir)).resolve()
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        sink = JsonlSink(state_dir / "lifecycle.jsonl")
    except OSError as exc:
        return _fail(f"state folder {state_dir}: {exc.strerror}; set [node] state_dir or --state-dir")
    link = None
    if profile.link.enabled and not args.no_link:
        try:
            link = NodeLink(profile, state_dir, __version__).start()
        except LinkError as exc:
            sink.close()
            return _fail(str(exc))
    try:
        source = open_source(uri, profile.capture)
        source.start()
    except SourceError as exc:
        if link is not None:
            link.stop()
        sink.close()
        return _fail(str(exc))

    stop = threading.Event()

    def on_signal(signum: int, _frame) -> None:
        log.info("%s received, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    log.info("edge-node %s: node %s reading %s; state in %s", __version__, profile.node.id, source.name, state_dir)
    node = Node(profile, source, detect=stage, sink=sink, link=link, state_dir=state_dir,
                profile_path=args.config.resolve())
    try:
        summary = node.run(stop, duration_s=args.duration, max_frames=args.max_frames)
    finally:
        source.stop()
        if link is not None:
            link.stop()
        sink.close()
    log.info("stopped after %d frames in %.1f s (%.1f fps average); source %s",
             summary.frames, summary.seconds, summary.fps, source.state.value)
    if summary.final_state == SourceState.FAILED:
        print(f"edge-node: {summary.error}", file=sys.stderr)
        return EXIT_USAGE if summary.frames == 0 else EXIT_FAILED
    return EXIT_OK


def cmd_model_info(args: argparse.Namespace) -> int:
    from ..detect.model import ModelError
    from ..detect.tools import model_info

    try:
        manifest, problems = model_info(args.dir)
    except ModelError as exc:
        print(f"edge-node: {exc}", file=sys.stderr)
        return EXIT_USAGE
    m = manifest
    print(f"model      {m.name} (version {m.version})")
    print(f"file       {args.dir / m.file}")
    print(f"sha256     {m.sha256} ({'ok' if not problems else 'MISMATCH'})")
    print(f"input      {m.input.width}x{m.input.height} {m.input.color}, letterbox pad {m.input.letterbox.pad_value}")
    print(f"output     {m.output.layout}")
    print(f"classes    {', '.join(m.classes)}")
    for key, value in m.training.items():
        print(f"training   {key}: {value}")
    for key, value in m.metrics.items():
        print(f"metrics    {key}: {value}")
    for problem in problems:
        print(f"edge-node: {problem}", file=sys.stderr)
    return EXIT_USAGE if problems else EXIT_OK


def cmd_model_bench(args: argparse.Namespace) -> int:
    import json

    from ..detect.model import ModelError
    from ..detect.tools import bench_model

    try:
        result = bench_model(args.dir, runs=args.runs, threads=args.threads)
    except ModelError as exc:
        print(f"edge-node: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(result))
    return EXIT_OK


def cmd_model_import(args: argparse.Namespace) -> int:
    from ..detect.model import ModelError
    from ..detect.tools import import_model

    try:
        manifest = import_model(args.onnx, args.labels, args.out, name=args.name, layout=args.layout,
                                color=args.color)
    except (ModelError, OSError) as exc:
        print(f"edge-node: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{args.out}: {manifest.name}, {manifest.input.width}x{manifest.input.height}, "
          f"{manifest.output.layout}, {len(manifest.classes)} classes; map its labels onto the rule classes "
          "with [detect] class_map in the profile")
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

    model = sub.add_parser("model", help="inspect, benchmark and import detection models")
    msub = model.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    p = msub.add_parser("info", help="print a model folder's manifest and check its sha256")
    p.add_argument("dir", type=Path, metavar="DIR")
    p.set_defaults(func=cmd_model_info)
    p = msub.add_parser("bench", help="measure detection latency on this machine (JSON)")
    p.add_argument("dir", type=Path, metavar="DIR")
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--threads", type=int, help="onnxruntime threads (default: one per core)")
    p.set_defaults(func=cmd_model_bench)
    p = msub.add_parser("import", help="make a model folder from a YOLO ONNX export and its labels")
    p.add_argument("onnx", type=Path, metavar="MODEL.onnx")
    p.add_argument("--labels", required=True, type=Path, help="labels.txt (one per line) or an Ultralytics data YAML")
    p.add_argument("--out", required=True, type=Path, help="model folder to create")
    p.add_argument("--name", help="model name (default: the file name)")
    p.add_argument("--layout", default="auto", choices=["auto", "yolov5", "yolov8", "end2end"])
    p.add_argument("--color", default="RGB", choices=["RGB", "BGR"], help="channel order the model expects")
    p.set_defaults(func=cmd_model_import)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
