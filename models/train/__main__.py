"""Command line: `python -m models.train {scenes,render,train,export,eval} ...` (run from the repo root).

Typical run (see models/default/MODEL_CARD.md for the numbers of the shipped model):
  python -m models.train render --data .cache/data --scenes 1500 --frames-per-scene 8
  nohup python -m models.train train --data .cache/data --out .cache/run --epochs 10 > .cache/train.log &
  python -m models.train train --data .cache/data --out .cache/run --epochs 10 --resume   # after a stop
  python -m models.train export --weights .cache/run/best.pt --data .cache/data --out models/default
  python -m models.train eval --model models/default/model.onnx --zoom
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _print(msg: str) -> None:
    print(msg, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--init" in args and (not args or args[0].startswith("-")):
        return _finetune(args)
    ap = argparse.ArgumentParser(prog="python -m models.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("scenes", help="write random training scenarios as TOML files")
    s.add_argument("--out", required=True)
    s.add_argument("--count", type=int, default=10)
    s.add_argument("--first-seed", type=int, default=1)
    s.add_argument("--duration", type=float, default=30.0)

    r = sub.add_parser("render", help="render random scenes into a cached dataset (resumable)")
    r.add_argument("--data", default=".cache/data")
    r.add_argument("--scenes", type=int, default=1500)
    r.add_argument("--frames-per-scene", type=int, default=8)
    r.add_argument("--first-seed", type=int, default=1)
    r.add_argument("--duration", type=float, default=30.0)
    r.add_argument("--workers", type=int, default=2)

    t = sub.add_parser("train", help="train (checkpoints to OUT/last.pt; --resume continues)")
    t.add_argument("--data", default=".cache/data")
    t.add_argument("--out", default=".cache/run")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--workers", type=int, default=1)
    t.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    t.add_argument("--max-iters", type=int, default=None)
    t.add_argument("--eval-every", type=int, default=2, help="epochs between quick mAP checks (0: never)")
    t.add_argument("--eval-step", type=int, default=40, help="quick check: every N-th frame of each scenario")
    t.add_argument("--resume", action="store_true")

    e = sub.add_parser("export", help="export weights to a model folder (ONNX + manifest), with evaluation")
    e.add_argument("--weights", required=True)
    e.add_argument("--out", default="models/default")
    e.add_argument("--data", default=".cache/data", help="the dataset trained on (for the manifest)")
    e.add_argument("--epochs", type=int, default=None)
    e.add_argument("--step", type=int, default=5, help="evaluate every N-th frame (0: skip evaluation)")
    e.add_argument("--train-minutes", type=float, default=None, help="wall time to record (default: from the run)")

    v = sub.add_parser("eval", help="mAP@0.5 of an ONNX model on the shipped scenarios")
    v.add_argument("--model", default="models/default/model.onnx")
    v.add_argument("--step", type=int, default=5)
    v.add_argument("--zoom", action="store_true", help="also evaluate 2x zoom crops")
    v.add_argument("--json", default=None)
    v.add_argument("--threads", type=int, default=2)
    v.add_argument("--runtime", action="store_true",
                   help="also evaluate through edge.detect.Detector (the node's runtime) on the model's folder")
    v.add_argument("--speed", action="store_true", help="also time inference (onnxruntime, 1 and 2 threads)")

    a = ap.parse_args(argv)
    if a.cmd == "scenes":
        from models.train.scenes import random_scene, to_scenario, to_toml

        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        for seed in range(a.first_seed, a.first_seed + a.count):
            data = random_scene(seed, a.duration)
            to_scenario(data)
            (out / f"train_{seed:06d}.toml").write_text(to_toml(data), encoding="utf-8")
        _print(f"wrote {a.count} scenes to {out}")
    elif a.cmd == "render":
        from models.train.dataset import build_dataset

        idx = build_dataset(a.data, a.scenes, a.frames_per_scene, a.first_seed, a.duration, a.workers)
        _print(json.dumps(idx["stats"]))
    elif a.cmd == "train":
        from models.train.train import train

        train(a.data, a.out, epochs=a.epochs, batch=a.batch, lr=a.lr, seed=a.seed, workers=a.workers,
              resume=a.resume, max_iters=a.max_iters, eval_every=a.eval_every, eval_step=a.eval_step,
              threads=a.threads, log=_print)
    elif a.cmd == "export":
        return _export(a)
    elif a.cmd == "eval":
        from models.train.evaluate import evaluate, format_table, onnx_predictor, save

        res = evaluate(onnx_predictor(a.model, a.threads), step=a.step, zoom=a.zoom)
        _print(format_table(res))
        _print(json.dumps({k: v for k, v in res.items() if k != "per_scenario_map50"}))
        if a.runtime:
            from models.train.evaluate import evaluate_runtime

            res["runtime_detector"] = evaluate_runtime(Path(a.model).parent, a.step, a.threads)
            _print(json.dumps({"runtime_detector": res["runtime_detector"]}))
        if a.speed:
            from models.train.evaluate import speed

            res["speed"] = [speed(a.model, t) for t in (1, 2)]
            _print(json.dumps({"speed": res["speed"]}))
        if a.json:
            save(res, a.json)
    return 0


def _finetune(argv: list[str]) -> int:
    """`--data DATA.yaml --init MODEL_DIR`: fine-tune a model folder (models/train/finetune.py)."""
    ap = argparse.ArgumentParser(prog="python -m models.train", description="fine-tune a model folder")
    ap.add_argument("--data", required=True, help="a YOLO data.yaml (edge-hub dataset export)")
    ap.add_argument("--init", required=True, help="the model folder to start from (this tool's architecture)")
    ap.add_argument("--out", required=True, help="the new model folder")
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--minutes", type=float, default=None, help="stop after this wall time (a shared machine)")
    ap.add_argument("--name")
    ap.add_argument("--version")
    a = ap.parse_args(argv)
    from models.train.finetune import FineTuneError, finetune

    try:
        finetune(Path(a.data), Path(a.init), Path(a.out), iters=a.iters, batch=a.batch, lr=a.lr, seed=a.seed,
                 threads=a.threads, name=a.name, version=a.version, log=_print,
                 max_minutes=a.minutes)
    except (FineTuneError, OSError, KeyError) as exc:
        print(f"models.train: {exc}", file=sys.stderr)
        return 2
    return 0


def _export(a) -> int:
    import torch

    from models.train.dataset import load_index, stats
    from models.train.evaluate import evaluate, format_table, onnx_predictor, speed
    from models.train.export import write_model_folder
    from models.train.train import load_model

    model = load_model(a.weights)
    ck = torch.load(a.weights, map_location="cpu", weights_only=False)
    meta, hist = ck.get("meta", {}), ck.get("history", [])
    data = Path(a.data)
    st = stats(load_index(data)) if (data / "index.json").exists() else {}
    scenes = len({r["scene"] for r in load_index(data)}) if st else None
    training = {"data": f"{st.get('images', '?')} frames of {scenes} random simulator scenes "
                        "(models/train/scenes.py), never the shipped scenarios", "scenes": scenes,
                "images": st.get("images", meta.get("images")), "objects": st.get("objects"),
                "epochs": a.epochs or (hist[-1]["epoch"] if hist else meta.get("epochs")),
                "seed": meta.get("seed", 0), "batch": meta.get("batch"),
                "train_minutes": a.train_minutes or (hist[-1]["elapsed_min"] if hist else None)}
    write_model_folder(model, a.out, training, {})
    metrics: dict = {}
    if a.step:
        res = evaluate(onnx_predictor(Path(a.out) / "model.onnx"), step=a.step, zoom=True)
        _print(format_table(res))
        metrics = {"eval_data": "the 12 fixed-camera scenarios shipped in simulator/scenarios/ (models/train/"
                                f"evaluate.py EVAL_SCENARIOS), every {a.step}th frame, {res['frames']} frames, "
                                "1280x720 letterboxed to 320; AP@0.5 all-point interpolated",
                   "map50": res["full_frame"]["map50"], "per_class_ap50": res["full_frame"]["per_class_ap50"],
                   "gt_per_class": res["full_frame"]["gt_per_class"],
                   "zoom2x_crops": {"map50": res["zoom2x_crops"]["map50"],
                                    "per_class_ap50": res["zoom2x_crops"]["per_class_ap50"],
                                    "eval_data": "the same frames cut into 640x640 windows, resized to 320: "
                                                 "objects 2x the full-frame size"},
                   "per_scenario_map50": res["per_scenario_map50"],
                   "ms_per_inference_ort_2_threads": speed(Path(a.out) / "model.onnx", 2)["median_ms"],
                   "ms_per_inference_ort_1_thread": speed(Path(a.out) / "model.onnx", 1)["median_ms"]}
        try:  # the node's own detector, when the runtime is there: must agree with the numbers above
            from models.train.evaluate import evaluate_runtime

            metrics["runtime_detector_map50"] = evaluate_runtime(a.out, a.step)["full_frame"]["map50"]
        except ImportError:
            pass
    manifest = write_model_folder(model, a.out, training, metrics)
    _print(json.dumps({k: manifest[k] for k in ("sha256", "training", "metrics")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
