"""`python -m models.train --data DATA.yaml --init MODEL_DIR --out OUT`: fine-tune a model folder.

Which folders it can start from: those of this tool's own architecture (models/train/model.py, the
`edge-default` layout: the shipped models/default and every fine-tune of it).  The folder holds only
the ONNX export, whose BatchNorms are folded into the convolutions; its initializers are loaded back
into the same network with the folds in place (named as in the export), and training goes on from
there.  Imported third-party models (YOLOv8 from Ultralytics, SSD, RT-DETR) are refused with a
clear line: their training belongs to their own tools.

The data is a YOLO-format dataset (`edge-hub dataset export`): images/{train,val}, labels/...,
data.yaml.  The same augmentations as the training from scratch (models/train/augment.py), a fixed
seed, and `model eval` (edge/detect/evaluate.py) of the initial and the new model on the held-out
split; both go into the new manifest and its MODEL_CARD.md.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from models.train.augment import make_sample
from models.train.loss import DetectionLoss
from models.train.model import Detector, fuse
from models.train.train import EMA, collate, lr_at, make_optimizer, train_step
from simulator import CLASSES


class FineTuneError(Exception):
    """One line: why the fine-tune cannot start."""


def read_data_yaml(path: Path) -> dict:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise FineTuneError(f"{path}: {exc}") from None
    root = Path(data.get("path") or path.parent)
    if not root.is_absolute():
        root = path.parent / root
    names = data.get("names")
    names = [names[k] for k in sorted(names)] if isinstance(names, dict) else list(names or [])
    if names != list(CLASSES):
        raise FineTuneError(f"{path}: names {names} are not the classes of this architecture {list(CLASSES)}")
    return {"train": root / data["train"], "val": root / data["val"], "names": names}


def _labels_dir(images: Path) -> Path:
    parts = list(images.parts)
    i = len(parts) - 1 - parts[::-1].index("images")
    return Path(*parts[:i], "labels", *parts[i + 1:])


class YoloDataset(Dataset):
    """YOLO images + labels -> augmented 320x320 samples (the training's own make_sample)."""

    def __init__(self, images: Path, seed: int = 0, size: int = 320):
        self.files = sorted(p for p in images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if not self.files:
            raise FineTuneError(f"{images}: no images")
        self.labels = _labels_dir(images)
        self.seed, self.size, self.epoch = seed, size, 0

    def __len__(self) -> int:
        return len(self.files)

    def _load(self, i: int):
        img = cv2.imread(str(self.files[i]), cv2.IMREAD_COLOR)
        h, w = img.shape[:2]
        lab = self.labels / (self.files[i].stem + ".txt")
        rows = []
        if lab.exists():
            for line in lab.read_text().splitlines():
                if line.strip():
                    c, cx, cy, bw, bh = line.split()[:5]
                    cx, cy, bw, bh = float(cx) * w, float(cy) * h, float(bw) * w, float(bh) * h
                    rows.append([int(c), cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2])
        return img, np.array(rows, np.float32).reshape(-1, 5)

    def __getitem__(self, i: int):
        rng = np.random.default_rng([self.seed, self.epoch, i])
        img, boxes = self._load(i)
        out, b = make_sample(img, boxes, rng, lambda: self._load(int(rng.integers(len(self)))), self.size, 0.5)
        x = torch.from_numpy(np.ascontiguousarray(out[..., ::-1].transpose(2, 0, 1)))
        return x, torch.from_numpy(b.astype(np.float32))


def load_init(folder: Path) -> tuple[Detector, dict]:
    """The network of a model folder of this architecture, weights from its ONNX (BN folded)."""
    import onnx
    from onnx import numpy_helper

    manifest = json.loads((folder / "manifest.json").read_text())
    if list(manifest.get("classes", [])) != list(CLASSES) or manifest.get("output", {}).get("layout") != "yolov8":
        raise FineTuneError(f"{folder}: not a model of this tool's architecture (edge-default, YOLOv8 layout, "
                            f"classes {list(CLASSES)}); fine-tune imported models with their own tools")
    graph = onnx.load(str(folder / manifest.get("file", "model.onnx"))).graph
    weights = {i.name[len("model."):]: torch.from_numpy(numpy_helper.to_array(i).copy())
               for i in graph.initializer if i.name.startswith("model.")}
    meta = manifest.get("training", {})
    net = fuse(Detector(len(CLASSES), tuple(meta.get("widths", (16, 32, 64, 96, 128))),
                        tuple(meta.get("depths", (1, 2, 2, 1)))))
    state = net.state_dict()
    if set(weights) != set(state) or any(weights[k].shape != state[k].shape for k in state):
        raise FineTuneError(f"{folder}: its ONNX weights do not fit this tool's network "
                            "(another architecture or size); fine-tune it with the tool that made it")
    net.load_state_dict(weights)
    return net, manifest


def finetune(data_yaml: Path, init: Path, out: Path, *, iters: int = 300, batch: int = 8, lr: float = 5e-4,
             seed: int = 0, threads: int = 1, name: str | None = None, version: str | None = None,
             log=print, max_minutes: float | None = None) -> dict:
    from edge.detect.evaluate import evaluate
    from models.train.export import write_model_folder

    data = read_data_yaml(data_yaml)
    net, init_manifest = load_init(init)
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    val_labels = _labels_dir(data["val"])
    before = evaluate(init, data["val"], val_labels, names=data["names"], threads=threads)
    log(json.dumps({"before": {"map50": before["map50"], "images": before["images"]}}))
    ds = YoloDataset(data["train"], seed)
    opt = make_optimizer(net, lr, 5e-4)
    ema = EMA(net, decay=0.99, tau=max(10.0, iters / 10))
    loss_fn = DetectionLoss(len(CLASSES))
    t0 = time.time()
    iters = run_iterations(net, ds, opt, ema, loss_fn, iters=iters, batch=batch, seed=seed, lr=lr, warm_share=10,
                           floor=0.1, log=log, max_minutes=max_minutes)
    model = ema.ema.eval()
    minutes = round((time.time() - t0) / 60, 2)
    training = {"tool": "python -m models.train --data ... --init ... (models/train/finetune.py)",
                "init": {k: init_manifest.get(k) for k in ("name", "version", "sha256")},
                "data": str(data_yaml), "train_images": len(ds), "iterations": iters, "batch": batch, "lr": lr,
                "seed": seed, "augment": "models/train/augment.py make_sample (as training from scratch)",
                "train_minutes": minutes, "widths": init_manifest.get("training", {}).get("widths"),
                "depths": init_manifest.get("training", {}).get("depths")}
    training = {k: v for k, v in training.items() if v is not None}
    write_model_folder(model, out, training, {})
    after = evaluate(out, data["val"], val_labels, names=data["names"], threads=threads)
    metrics = {"eval": "edge-node model eval on the held-out split of the data (images/val)",
               "val_images": after["images"], "map50_before": before["map50"], "map50_after": after["map50"],
               "map50_gain": round(after["map50"] - before["map50"], 4),
               "per_class_ap50_before": {c: v["ap50"] for c, v in before["per_class"].items()},
               "per_class_ap50_after": {c: v["ap50"] for c, v in after["per_class"].items()}}
    manifest = write_model_folder(model, out, training, metrics)
    manifest["name"] = name or f"{init_manifest['name'].removesuffix('-ft')}-ft"
    manifest["version"] = version or str(int(init_manifest.get("version", "1")) + 1
                                         if str(init_manifest.get("version", "1")).isdigit() else "2")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    _card(out, manifest, before, after)
    log(json.dumps({"name": manifest["name"], "version": manifest["version"], "map50_before": before["map50"],
                    "map50_after": after["map50"], "train_minutes": minutes}))
    return manifest


def _card(out: Path, manifest: dict, before: dict, after: dict) -> None:
    t, m = manifest["training"], manifest["metrics"]
    rows = "\n".join(f"| {c} | {before['per_class'].get(c, {}).get('ap50', '-')} | {v['ap50']} |"
                     for c, v in after["per_class"].items())
    (out / "MODEL_CARD.md").write_text(f"""# {manifest['name']} {manifest['version']}

Fine-tuned from {t['init']['name']} {t['init']['version']} (sha256 {t['init']['sha256'][:12]}...) by
`python -m models.train --data {t['data']} --init ...` (models/train/finetune.py).

- data: {t['train_images']} training images of {t['data']}; held-out: {m['val_images']} images (images/val)
- settings: {t['iterations']} iterations, batch {t['batch']}, lr {t['lr']}, seed {t['seed']},
  augmentations: {t['augment']}; {t['train_minutes']} min on CPU
- model sha256: {manifest['sha256']}

## `model eval` on the held-out split (mAP@0.5)

before {m['map50_before']} -> after {m['map50_after']} ({m['map50_gain']:+.4f})

| class | AP50 before | AP50 after |
|---|---|---|
{rows}
""", encoding="utf-8")


def run_iterations(net, ds, opt, ema, loss_fn, *, iters: int, batch: int, seed: int, lr: float, warm_share: int,
                   floor: float, log, max_minutes: float | None = None, show_minutes: bool = False) -> int:
    """The fine-tuning iterations (this tool's and the aerial one's): a seeded order per epoch, the
    warm-up over `iters // warm_share` and cosine to `floor` x lr; returns the iterations done (fewer
    when `max_minutes` of wall time run out first)."""
    t0, it, epoch = time.time(), 0, 0
    net.train()
    while it < iters:
        ds.epoch = epoch
        order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed * 1000 + epoch)).tolist()
        for imgs, targets in DataLoader(ds, batch_size=batch, sampler=order, collate_fn=collate, drop_last=True):
            parts = train_step(net, opt, ema, loss_fn, imgs, targets,
                               lr_at(it, iters, max(1, iters // warm_share), lr, floor))
            it += 1
            if it % 20 == 0 or it == iters:
                took = f" ({(time.time() - t0) / 60:.1f} min)" if show_minutes else ""
                log(f"iter {it}/{iters} loss box {parts[0]:.3f} cls {parts[1]:.3f} dfl {parts[2]:.3f}{took}")
            if max_minutes is not None and time.time() - t0 > max_minutes * 60:
                log(f"time budget of {max_minutes} min reached at iter {it}/{iters}")
                iters = it  # a shared machine: stop here (the manifest records the iterations done)
            if it >= iters:
                break
        epoch += 1
    return iters
