"""`edge-hub dataset pull|export|import`: training frames from the nodes, out to labelling and back."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _names(args) -> list[str]:
    if args.names:
        return [n.strip() for n in args.names.split(",") if n.strip()]
    from ..config.detect import DEFAULT_CLASSES  # the classes the default model knows, in its order

    return list(DEFAULT_CLASSES)


def cmd_pull(args: argparse.Namespace) -> int:
    from .command import send_command
    from .settings import CommandSettings

    worst = 0
    for node in args.nodes:
        hard = list(args.hard_negative)
        try:
            if args.store:
                from .dataset import dismissed_wrong_object

                hard += dismissed_wrong_object(args.store, node)
            cmd_args = {"action": "pull", "max_frames": args.max_frames, "hard_negatives": sorted(set(hard))}
            result = send_command(CommandSettings.from_args(args), node, "dataset", cmd_args)
        except (OSError, ConnectionError, ValueError) as exc:  # DatasetError too
            print(f"edge-hub: {exc}", file=sys.stderr)
            return 2
        print(json.dumps({"node": node, **(result or {"ok": False, "error": "no result in time"})}))
        worst = max(worst, 2 if result is None else 0 if result.get("ok") else 1)
    return worst


def cmd_export(args: argparse.Namespace) -> int:
    from .dataset import DatasetError, export

    try:
        counts = export(Path(args.root), Path(args.out), _names(args), val_percent=args.val_percent,
                        block_s=args.block_s, val_site=args.val_site, min_score=args.min_score)
    except (DatasetError, OSError) as exc:
        print(f"edge-hub: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"out": args.out, **counts}))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from .dataset import DatasetError, import_labels

    try:
        counts = import_labels(Path(args.root), Path(args.labels), _names(args))
    except (DatasetError, OSError) as exc:
        print(f"edge-hub: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(counts))
    return 0


def add_dataset(sub: argparse._SubParsersAction, common) -> None:
    p = sub.add_parser("dataset", help="training frames: pull from nodes, export for labelling, import labels")
    dsub = p.add_subparsers(dest="dataset_command", required=True, metavar="ACTION")
    pl = dsub.add_parser("pull", parents=[common], help="ask nodes to upload the frames they kept")
    pl.add_argument("nodes", nargs="+")
    pl.add_argument("--max-frames", type=int, default=500)
    pl.add_argument("--hard-negative", action="append", default=[], metavar="VIOLATION_ID",
                    help="a case dismissed as 'wrong object': its frames are marked hard negatives (repeatable)")
    pl.add_argument("--store", help="the hub service's store (SQLite path or postgresql:// URL): the violations of "
                    "incidents dismissed as wrong_object become hard negatives")
    pl.add_argument("--key", default="hub.key")
    pl.add_argument("--timeout", type=float, default=30.0)
    pl.add_argument("--lifetime", type=float, default=300.0)
    pl.set_defaults(func=cmd_pull)
    for name in ("export", "import"):
        e = dsub.add_parser(name, help="write a YOLO dataset (images, pre-labels, data.yaml)" if name == "export"
                            else "read corrected YOLO labels back (checked first, then taken)")
        e.add_argument("--root", required=True, help="the receiver's root (edge-hub receive --root)")
        e.add_argument("--names", help="class names, comma separated (default: the rule classes)")
        if name == "export":
            e.add_argument("--out", required=True)
            e.add_argument("--val-percent", type=int, default=20)
            e.add_argument("--block-s", type=float, default=600.0, help="frames this close stay on one side")
            e.add_argument("--val-site", help="hold out this whole site as validation")
            e.add_argument("--min-score", type=float, default=0.0, help="pre-labels below this score are left out")
            e.set_defaults(func=cmd_export)
        else:
            e.add_argument("--labels", required=True, help="folder of corrected label files")
            e.set_defaults(func=cmd_import)
