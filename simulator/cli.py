"""`edge-sim`: the simulator's command line.

Each subcommand is one `_add_<name>(subparsers)` function that registers its parser and sets `func`;
main() runs `args.func(args)` and returns its exit code.  To add a subcommand (demo, run, score, fleet),
write such a function (in this module or another one) and append it to SUBCOMMANDS.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from simulator.classes import CLASS_INDEX, CLASSES
from simulator.scenario import Scenario, ScenarioError, load_scenario

EXIT_BAD_INPUT = 2


def _errors(e: ScenarioError) -> int:
    for line in e.problems:
        print(line, file=sys.stderr)
    return EXIT_BAD_INPUT


def truth_document(sc: Scenario) -> dict:
    """The scenario's ground truth with absolute times, as written to truth.json (for `score`)."""
    from datetime import timedelta

    return {
        "scenario": sc.name,
        "source": sc.source,
        "site": sc.site,
        "lighting": sc.lighting,
        "seed": sc.seed,
        "start": sc.start.isoformat(),
        "fps": sc.fps,
        "duration_s": sc.duration_s,
        "n_frames": sc.n_frames,
        "size": list(sc.size),
        "truth": [
            {"kind": t.kind, "zone": t.zone, "start_s": t.start_s, "end_s": t.end_s,
             "start": (sc.start + timedelta(seconds=t.start_s)).isoformat(),
             "end": (sc.start + timedelta(seconds=t.end_s)).isoformat(),
             "actors": list(t.actors), "note": t.note}
            for t in sc.truth
        ],
    } | ({"world": sc.world_document()} if getattr(sc, "aerial", False) else {})


def yolo_lines(labels, size: tuple[int, int]) -> list[str]:
    w, h = size
    out = []
    for lab in labels:
        x1, y1, x2, y2 = lab.box
        out.append(f"{CLASS_INDEX[lab.cls]} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} "
                   f"{(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}")
    return out


def _frame_range(spec: str | None, n: int) -> range:
    if not spec:
        return range(n)
    a, sep, b = spec.partition(":")
    if not sep:
        raise ValueError(f"--frames: expected A:B, got {spec!r}")
    try:
        start = int(a) if a.strip() else 0
        stop = int(b) if b.strip() else n
    except ValueError:
        raise ValueError(f"--frames: A and B must be frame numbers, got {spec!r}") from None
    if start < 0 or stop > n or start >= stop:
        raise ValueError(f"--frames: {spec!r} is not a non-empty range within 0:{n}")
    return range(start, stop)


# ---------------------------------------------------------------------------- render


def _add_render(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="render a scenario to MP4 + YOLO labels (+ JPEG images)",
                       description="Render a scenario: DIR/video.mp4, DIR/labels/NNNNNN.txt (YOLO), DIR/classes.txt, "
                                   "DIR/objects.jsonl (boxes with actor ids), DIR/truth.json; with --images also "
                                   "DIR/images/NNNNNN.jpg; for a drone scenario also DIR/telemetry.jsonl.  NNNNNN is "
                                   "the frame index in the scenario.")
    p.add_argument("scenario", help="scenario TOML file, or the name of a shipped scenario")
    p.add_argument("--out", required=True, type=Path, help="output directory (created)")
    p.add_argument("--images", action="store_true", help="also write JPEG frames (training layout)")
    p.add_argument("--every", type=int, default=1, metavar="N", help="keep every N-th frame (default 1)")
    p.add_argument("--frames", metavar="A:B", help="only frames A..B-1 (Python slice, either side optional)")
    p.add_argument("--seed", type=int, help="override the scenario seed (new looks, same script)")
    p.add_argument("--no-video", action="store_true", help="skip video.mp4 (faster for training sets)")
    p.set_defaults(func=cmd_render)


def cmd_render(args: argparse.Namespace) -> int:
    import cv2

    from simulator.render import Renderer

    try:
        sc = load_scenario(args.scenario)
    except ScenarioError as e:
        return _errors(e)
    if args.every < 1:
        print(f"{args.scenario}: --every: must be >= 1, got {args.every}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        frames = _frame_range(args.frames, sc.n_frames)[:: args.every]
    except ValueError as e:
        print(f"{args.scenario}: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    renderer = Renderer(sc, seed=args.seed)
    out: Path = args.out
    (out / "labels").mkdir(parents=True, exist_ok=True)
    if args.images:
        (out / "images").mkdir(exist_ok=True)
    (out / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    doc = truth_document(sc)
    doc["seed"] = renderer.seed
    (out / "truth.json").write_text(json.dumps(doc, indent=2) + "\n")
    writer = None
    if not args.no_video:
        from edge.video import H264Writer

        writer = H264Writer(out / "video.mp4", sc.fps / args.every, sc.size)
    counts: Counter[str] = Counter()
    t0 = last = time.perf_counter()
    render_s = 0.0
    aerial = getattr(renderer, "aerial", False)
    try:
        with open(out / "objects.jsonl", "w") as objs, \
                (open(out / "telemetry.jsonl", "w") if aerial else contextlib.nullcontext()) as tele:
            for n, i in enumerate(frames, 1):
                r0 = time.perf_counter()
                fr = renderer.render(i)
                render_s += time.perf_counter() - r0
                stem = f"{i:06d}"
                lines = yolo_lines(fr.labels, sc.size)
                (out / "labels" / f"{stem}.txt").write_text("".join(line + "\n" for line in lines))
                objs.write(json.dumps({"frame": i, "t": round(fr.t, 4), "objects": [
                    {"cls": lab.cls, "box": [round(v, 1) for v in lab.box], "actor": lab.actor}
                    for lab in fr.labels]}) + "\n")
                counts.update(lab.cls for lab in fr.labels)
                if tele is not None:  # the drone's (noisy) telemetry of this frame, and the true pose
                    tele.write(json.dumps({"frame": i, **renderer.telemetry(i),
                                           "true": renderer.true_telemetry(i)}) + "\n")
                if args.images:
                    cv2.imwrite(str(out / "images" / f"{stem}.jpg"), fr.image, [cv2.IMWRITE_JPEG_QUALITY, 92])
                if writer:
                    writer.write(fr.image)
                now = time.perf_counter()
                if now - last >= 2.0:
                    last = now
                    eta = (now - t0) / n * (len(frames) - n)
                    print(f"render: {n}/{len(frames)} frames ({100 * n // len(frames)}%), "
                          f"{1000 * render_s / n:.1f} ms/frame, eta {eta:.0f} s", file=sys.stderr, flush=True)
        if writer:
            writer.close()
    except BaseException:
        if writer:
            writer.abort()
        raise
    summary = {
        "scenario": sc.name, "out": str(out), "frames": len(frames), "first": frames[0], "last": frames[-1],
        "every": args.every, "fps": sc.fps / args.every, "size": list(sc.size), "seed": renderer.seed,
        "video": str(out / "video.mp4") if writer else None, "images": bool(args.images),
        "objects": {c: counts[c] for c in CLASSES}, "ms_per_frame": round(1000 * render_s / len(frames), 2),
        "seconds": round(time.perf_counter() - t0, 2),
    } | ({"telemetry": str(out / "telemetry.jsonl")} if aerial else {})
    print(json.dumps(summary))
    return 0


# ---------------------------------------------------------------------------- check


def _add_check(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="validate scenario files (exit 0, or 2 with one line per problem)")
    p.add_argument("scenarios", nargs="+", help="scenario TOML files or shipped scenario names")
    p.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    rc = 0
    for path in args.scenarios:
        try:
            sc = load_scenario(path)
        except ScenarioError as e:
            rc = _errors(e)
            continue
        print(f"{path}: ok ({sc.site}, {sc.lighting}, {sc.duration_s:g} s at {sc.fps:g} fps, "
              f"{len(sc.actors)} actors, {len(sc.truth)} truth intervals)")
    return rc


def _add_demo(sub: argparse._SubParsersAction) -> None:
    from simulator.demo import add_demo

    add_demo(sub)


def _add_score(sub: argparse._SubParsersAction) -> None:
    from simulator.score import add_score

    add_score(sub)


def _add_fleet(sub: argparse._SubParsersAction) -> None:
    from simulator.fleet.run import add_fleet

    add_fleet(sub)


def _add_mavlink(sub: argparse._SubParsersAction) -> None:
    from simulator.aerial.mavlink import add_mavlink

    add_mavlink(sub)


def _add_officers(sub: argparse._SubParsersAction) -> None:
    from simulator.officers import add_officers

    add_officers(sub)


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_render, _add_check, _add_score, _add_demo,
                                                                  _add_mavlink, _add_fleet, _add_officers]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge-sim", description="Synthetic camera scenes and scenarios.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
