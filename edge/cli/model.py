"""`edge-node model info|bench|import|eval`: model folders, from an export to a checked detector."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_OK, EXIT_USAGE = 0, 2


def _fail(exc: Exception) -> int:
    print(f"edge-node: {exc}", file=sys.stderr)
    return EXIT_USAGE


def cmd_model_info(args: argparse.Namespace) -> int:
    from ..detect.model import ModelError
    from ..detect.tools import model_info

    try:
        manifest, problems = model_info(args.dir)
    except ModelError as exc:
        return _fail(exc)
    m = manifest
    fit = "stretched" if m.input.resize == "stretch" else f"letterbox pad {m.input.letterbox.pad_value}"
    nms = m.output.nms if m.output.nms is not None else m.output.layout in ("yolov5", "yolov8", "auto")
    print(f"model      {m.name} (version {m.version})")
    print(f"file       {args.dir / m.file}")
    print(f"sha256     {m.sha256} ({'ok' if not problems else 'MISMATCH'})")
    print(f"input      {m.input.width}x{m.input.height} {m.input.color} {m.input.dtype} {m.input.tensor}, {fit}")
    print(f"output     {m.output.layout}, {'NMS' if nms else 'no NMS (the model did it)'}")
    print(f"classes    {', '.join(m.classes[:20])}{f' ... ({len(m.classes)})' if len(m.classes) > 20 else ''}")
    for key, value in m.training.items():
        print(f"training   {key}: {value}")
    for key, value in m.metrics.items():
        print(f"metrics    {key}: {value}")
    for problem in problems:
        print(f"edge-node: {problem}", file=sys.stderr)
    return EXIT_USAGE if problems else EXIT_OK


def cmd_model_bench(args: argparse.Namespace) -> int:
    from ..detect.model import ModelError
    from ..detect.tools import bench_model

    try:
        result = bench_model(args.dir, runs=args.runs, threads=args.threads)
    except ModelError as exc:
        return _fail(exc)
    print(json.dumps(result))
    return EXIT_OK


def cmd_model_import(args: argparse.Namespace) -> int:
    from ..detect.importer import import_model, parse_size
    from ..detect.model import ModelError

    try:
        imgsz = parse_size(args.imgsz) if args.imgsz else None
        manifest = import_model(args.onnx, args.out, labels_path=args.labels, name=args.name, layout=args.layout,
                                color=args.color, imgsz=imgsz, nms=args.nms, label_offset=args.label_offset)
    except (ModelError, OSError) as exc:
        return _fail(exc)
    m = manifest
    nms = m.output.nms if m.output.nms is not None else m.output.layout in ("yolov5", "yolov8")
    print(f"{args.out}: {m.name}, {m.input.width}x{m.input.height} {m.input.dtype} {m.input.tensor}, "
          f"{m.output.layout} ({'NMS' if nms else 'no NMS'}), {len(m.classes)} classes; map its labels onto "
          "the rule classes with [detect] class_map in the profile (class_map = \"coco\" for COCO models)")
    return EXIT_OK


def cmd_model_eval(args: argparse.Namespace) -> int:
    from ..config import ConfigError, load_profile
    from ..detect.evaluate import evaluate, format_table
    from ..detect.importer import read_labels
    from ..detect.model import ModelError

    score, iou = 0.35, 0.45
    if args.config:
        try:
            profile = load_profile(args.config)
        except ConfigError as exc:
            for line in exc.lines():
                print(line, file=sys.stderr)
            return EXIT_USAGE
        score, iou = profile.detect.score_threshold, profile.detect.iou_threshold
    if args.score is not None:
        score = args.score
    try:
        names = read_labels(args.names) if args.names else None
        result = evaluate(args.model, args.images, args.labels, names=names, score_threshold=score,
                          iou_threshold=iou, threads=args.threads)
    except (ModelError, OSError) as exc:
        return _fail(exc)
    print(format_table(result), file=sys.stderr)
    print(json.dumps(result))
    return EXIT_OK


def add_model_parser(sub) -> None:
    """Register `model ...` on the edge-node command line."""
    model = sub.add_parser("model", help="inspect, benchmark, import and evaluate detection models")
    msub = model.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    p = msub.add_parser("info", help="print a model folder's manifest and check its sha256")
    p.add_argument("dir", type=Path, metavar="DIR")
    p.set_defaults(func=cmd_model_info)
    p = msub.add_parser("bench", help="measure detection latency on this machine (JSON)")
    p.add_argument("dir", type=Path, metavar="DIR")
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--threads", type=int, help="onnxruntime threads (default: one per core)")
    p.set_defaults(func=cmd_model_bench)
    p = msub.add_parser("import", help="make a model folder from an ONNX export (YOLO, RT-DETR, SSD)")
    p.add_argument("onnx", type=Path, metavar="MODEL.onnx")
    p.add_argument("--labels", type=Path,
                   help="labels.txt (one per line) or a data YAML; default: the names in the model's metadata")
    p.add_argument("--out", required=True, type=Path, help="model folder to create")
    p.add_argument("--name", help="model name (default: the file name)")
    p.add_argument("--layout", default="auto", choices=["auto", "yolov5", "yolov8", "end2end", "rtdetr", "rtdetr_topk", "ssd"],
                   help="output layout (default: from the metadata, else from the output shape)")
    p.add_argument("--imgsz", help="input size for a dynamic-shape export, N or WxH (default: the metadata's imgsz)")
    p.add_argument("--color", choices=["RGB", "BGR"], help="channel order the model expects (default RGB)")
    p.add_argument("--nms", action=argparse.BooleanOptionalAction, default=None,
                   help="suppress duplicates after the model (default: only for yolov5/yolov8 outputs)")
    p.add_argument("--label-offset", type=int, help="first class id (TF-OD API: 1, the default for ssd)")
    p.set_defaults(func=cmd_model_import)
    p = msub.add_parser("eval", help="mAP, precision and recall on labelled frames (YOLO label files)")
    p.add_argument("model", type=Path, metavar="MODEL", help="model folder")
    p.add_argument("--images", required=True, type=Path, help="folder of images")
    p.add_argument("--labels", required=True, type=Path, help="folder of YOLO .txt labels, one per image")
    p.add_argument("--names", type=Path,
                   help="classes.txt or data YAML naming the label class numbers (default: the model's labels)")
    p.add_argument("--config", type=Path, help="profile whose [detect] thresholds to use")
    p.add_argument("--score", type=float, help="score threshold for precision/recall (default: the profile's, 0.35)")
    p.add_argument("--threads", type=int)
    p.set_defaults(func=cmd_model_eval)
