"""`python -m models.train.aerial {scenes,render,finetune,eval}`: the aerial model (models/aerial/).

Why a model of its own: from 40-75 m a person is 6-10 px and a boat 30-50 px, seen from above; the
fixed-camera default model was never shown that and finds none of them.  This fine-tunes models/default
(its ONNX initializers loaded back into the torch network, models/train/finetune.py) on tiles of random
aerial scenes (models/train/aerial_scenes.py, aerial_data.py), cut as the node's tiled looks cut them,
and evaluates it through the node's own Detector on the tiles of the shipped drone scenarios, which are
never trained on.  Typical run (models/aerial/MODEL_CARD.md has the figures):

  python -m models.train.aerial render --data .cache/aerial --scenes 240
  python -m models.train.aerial finetune --data .cache/aerial --init models/default --out models/aerial
  python -m models.train.aerial eval --model models/aerial
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

DRONE_SCENARIOS = ("drone_day_angler_under_trees", "drone_day_bank_angler", "drone_day_boat_loiter",
                   "drone_day_two_anglers_close", "drone_dusk_bank_survey")
EVAL_CLASSES = ("person", "fishing_rod", "boat")


def aerial_version(init_manifest: dict) -> str:
    """A run that continues an aerial model makes its next version (a node and the hub tell the
    shipped models apart by it); a run from models/default or any other model makes version 1."""
    version = str(init_manifest.get("version", ""))
    return str(int(version) + 1) if init_manifest.get("name") == "edge-aerial" and version.isdigit() else "1"


def _frames_of_cache(root: Path, scenes: set[int]):
    import cv2

    recs = json.loads((root / "index.json").read_text())["images"]
    for r in recs:
        if r["scene"] in scenes:
            img = cv2.imread(str(root / "images" / r["file"]), cv2.IMREAD_COLOR)
            yield img, [(b[0], b[1:]) for b in r["boxes"]]


def _frames_of_scenarios(names, step: int):
    from simulator import CLASS_INDEX
    from simulator.render import Renderer
    from simulator.scenario import load_scenario

    repo = Path(__file__).resolve().parents[2]
    for name in names:
        r = Renderer(load_scenario(str(repo / "simulator" / "scenarios" / f"{name}.toml")))
        for i in range(0, r.n_frames, step):
            fr = r.render(i)
            yield fr.image, [(CLASS_INDEX[lab.cls], list(lab.box)) for lab in fr.labels]


def tile_ap(model_dir: str | Path, frames, side: int, overlap: float = 0.2, threads: int = 2,
            score_threshold: float = 0.35) -> dict:
    """Per-class AP@0.5 of a model folder run through the node's Detector on the frames' tiles
    (edge.detect.tiles.tile_regions; the boxes of all tiles joined by the detector's NMS, as the node
    does), with precision and recall at the profile's score threshold."""
    from edge.detect import Detector
    from edge.detect.evaluate import average_precision, match
    from edge.detect.tiles import tile_regions
    from simulator import CLASSES

    det = Detector(model_dir, score_threshold=0.001, threads=threads)
    per: dict[str, dict] = {c: {"tp": [], "scores": [], "npos": 0} for c in CLASSES}
    n = 0
    for img, labels in frames:
        n += 1
        h, w = img.shape[:2]
        found = det.detect(img, tile_regions((w, h), side, overlap))
        for ci, cls in enumerate(CLASSES):
            gt = np.array([b for c, b in labels if c == ci], np.float64).reshape(-1, 4)
            mine = np.array([nm == cls for nm in found.names], bool)
            boxes, scores = found.boxes[mine].astype(np.float64), found.scores[mine]
            per[cls]["tp"].append(match(boxes, scores, gt)[:, :1])
            per[cls]["scores"].append(scores)
            per[cls]["npos"] += len(gt)
    out: dict = {"frames": n, "side": side, "overlap": overlap, "score_threshold": score_threshold, "per_class": {}}
    for cls, e in per.items():
        if not e["npos"]:
            continue
        tp, scores = np.concatenate(e["tp"]), np.concatenate(e["scores"])
        at = scores >= score_threshold
        hits = int(tp[at, 0].sum())
        out["per_class"][cls] = {"labelled": e["npos"], "ap50": round(float(average_precision(tp, scores, e["npos"])[0]), 4),
                                 "precision": round(hits / max(int(at.sum()), 1), 4),
                                 "recall": round(hits / e["npos"], 4)}
    aps = [v["ap50"] for k, v in out["per_class"].items() if k in EVAL_CLASSES]
    out["map50"] = round(float(np.mean(aps)), 4) if aps else 0.0
    return out


def finetune(data: Path, init: Path, out: Path, *, sides: tuple[int, ...], iters: int, batch: int, lr: float,
             seed: int, threads: int, val_scenes: int, crop: int = 160, freeze: int = 2, log=print) -> dict:
    import torch

    from models.train.aerial_data import AerialTiles
    from models.train.export import write_model_folder
    from models.train.finetune import load_init, run_iterations
    from models.train.loss import DetectionLoss
    from models.train.train import EMA, make_optimizer
    from simulator import CLASSES

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    net, init_manifest = load_init(init)
    recs = json.loads((data / "index.json").read_text())["images"]
    all_scenes = sorted({r["scene"] for r in recs})
    val = set(all_scenes[-val_scenes:]) if val_scenes else set()
    train_scenes = set(all_scenes) - val
    ds = AerialTiles(data, sides, seed, train_scenes, crop)
    for part in ("stem", "s2", "s3", "s4")[:freeze]:  # the earliest layers see pixels, which change least
        for p in getattr(net, part).parameters():
            p.requires_grad_(False)
    opt = make_optimizer(net, lr, 5e-4)
    ema = EMA(net, decay=0.98, tau=max(10.0, iters / 20))
    loss_fn = DetectionLoss(len(CLASSES))
    t0 = time.time()
    run_iterations(net, ds, opt, ema, loss_fn, iters=iters, batch=batch, seed=seed, lr=lr, warm_share=20, floor=0.05,
                   log=log, show_minutes=True)
    minutes = round((time.time() - t0) / 60, 1)
    model = ema.ema.eval()
    from models.train.dataset import stats

    st = stats([r for r in recs if r["scene"] in train_scenes])
    training = {"tool": "python -m models.train.aerial finetune (models/train/aerial.py)",
                "init": {k: init_manifest.get(k) for k in ("name", "version", "sha256")},
                "data": f"{len(ds)} frames of {len(train_scenes)} random aerial scenes "
                        f"(models/train/aerial_scenes.py, seeds {min(train_scenes)}-{max(train_scenes)}), "
                        "never the shipped drone scenarios",
                "objects": st["objects"], "lighting": st["lighting"], "tile_sides": list(sides), "crop_px": crop,
                "frozen": list(("stem", "s2", "s3", "s4")[:freeze]), "iterations": iters, "batch": batch,
                "lr": lr, "seed": seed, "train_minutes": minutes,
                "widths": init_manifest.get("training", {}).get("widths"),
                "depths": init_manifest.get("training", {}).get("depths")}
    training = {k: v for k, v in training.items() if v is not None}
    manifest = write_model_folder(model, out, training, {})
    if val:
        res = tile_ap(out, _frames_of_cache(data, val), sides[0], threads=threads)
        manifest["metrics"] = {"val_random_scenes": sorted(val)[0:1] + sorted(val)[-1:], "val": res}
        log(json.dumps({"val": res}))
    manifest["name"], manifest["version"] = "edge-aerial", aerial_version(init_manifest)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    log(json.dumps({"train_minutes": minutes, "sha256": manifest["sha256"]}))
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.train.aerial", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("scenes", help="write random aerial training scenes as drone scenario TOML files")
    s.add_argument("--out", required=True)
    s.add_argument("--count", type=int, default=10)
    s.add_argument("--first-seed", type=int, default=1)
    s.add_argument("--duration", type=float, default=20.0)
    r = sub.add_parser("render", help="render random aerial scenes into a frame cache (resumable)")
    r.add_argument("--data", default=".cache/aerial")
    r.add_argument("--scenes", type=int, default=240)
    r.add_argument("--frames-per-scene", type=int, default=8)
    r.add_argument("--first-seed", type=int, default=1)
    r.add_argument("--workers", type=int, default=2)
    f = sub.add_parser("finetune", help="fine-tune a model folder on the cache's tiles")
    f.add_argument("--data", default=".cache/aerial")
    f.add_argument("--init", default="models/default")
    f.add_argument("--out", default="models/aerial")
    f.add_argument("--sides", default="320", help="tile sides (px of the frame) to train on, comma-separated; "
                                                  "the first is the one evaluated")
    f.add_argument("--iters", type=int, default=1200)
    f.add_argument("--batch", type=int, default=8)
    f.add_argument("--lr", type=float, default=1e-3)
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--threads", type=int, default=2)
    f.add_argument("--val-scenes", type=int, default=20, help="the last N scenes of the cache: validation")
    f.add_argument("--crop", type=int, default=160, help="training sample side (px of the model input)")
    f.add_argument("--freeze", type=int, default=2, help="backbone stages kept as they are (stem, s2, ...)")
    e = sub.add_parser("eval", help="per-class AP on the tiles of the shipped drone scenarios (held out)")
    e.add_argument("--model", default="models/aerial")
    e.add_argument("--side", type=int, default=320)
    e.add_argument("--overlap", type=float, default=0.2)
    e.add_argument("--step", type=int, default=10, help="every N-th frame of each scenario")
    e.add_argument("--threads", type=int, default=2)
    e.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    if a.cmd == "scenes":
        from models.train.aerial_scenes import random_aerial_scene, to_aerial_scenario, to_aerial_toml

        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        for seed in range(a.first_seed, a.first_seed + a.count):
            data = random_aerial_scene(seed, a.duration)
            to_aerial_scenario(data)
            (out / f"aerial_{seed:06d}.toml").write_text(to_aerial_toml(data), encoding="utf-8")
        print(f"wrote {a.count} scenes to {out}")
    elif a.cmd == "render":
        from models.train.aerial_data import build_aerial_dataset

        idx = build_aerial_dataset(a.data, a.scenes, a.frames_per_scene, a.first_seed, workers=a.workers)
        print(json.dumps(idx["stats"]))
    elif a.cmd == "finetune":
        sides = tuple(int(v) for v in a.sides.split(","))
        finetune(Path(a.data), Path(a.init), Path(a.out), sides=sides, iters=a.iters, batch=a.batch, lr=a.lr,
                 seed=a.seed, threads=a.threads, val_scenes=a.val_scenes, crop=a.crop,
                 freeze=a.freeze, log=lambda m: print(m, flush=True))
    else:
        res = tile_ap(a.model, _frames_of_scenarios(DRONE_SCENARIOS, a.step), a.side, a.overlap, a.threads)
        print(json.dumps(res, indent=1))
        if a.json:
            Path(a.json).write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
