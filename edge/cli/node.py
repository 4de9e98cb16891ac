"""edge-node: run a node, check profiles, and (as the product grows) manage keys, models, evidence."""

from __future__ import annotations

import argparse
import logging
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


def cmd_run(args: argparse.Namespace) -> int:
    from ..capture import SourceError, SourceState, open_source
    from ..node import Node

    try:
        profile = load_profile(args.config)
    except ConfigError as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return EXIT_USAGE
    setup_logging(profile.node.id, args.log_level)
    uri = args.source or profile.source_uri()
    if uri is None:
        print(f"{args.config}: capture: this profile has no camera; nothing to run yet", file=sys.stderr)
        return EXIT_USAGE
    try:
        source = open_source(uri, profile.capture)
        source.start()
    except SourceError as exc:
        print(f"edge-node: {exc}", file=sys.stderr)
        return EXIT_USAGE

    stop = threading.Event()

    def on_signal(signum: int, _frame) -> None:
        log.info("%s received, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    log.info("edge-node %s: node %s reading %s", __version__, profile.node.id, source.name)
    try:
        summary = Node(profile, source).run(stop, duration_s=args.duration, max_frames=args.max_frames)
    finally:
        source.stop()
    log.info("stopped after %d frames in %.1f s (%.1f fps average); source %s",
             summary.frames, summary.seconds, summary.fps, source.state.value)
    if summary.final_state == SourceState.FAILED:
        print(f"edge-node: {summary.error}", file=sys.stderr)
        return EXIT_USAGE if summary.frames == 0 else EXIT_FAILED
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
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("check-config", help="validate device profiles (exit 2 on any problem)")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.set_defaults(func=cmd_check_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
