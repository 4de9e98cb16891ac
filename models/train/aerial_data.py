"""Aerial training data: random drone scenes rendered to a frame cache, served as the node's tiles.

Why tiles: the node looks at a drone frame in squares (edge/detect/tiles.py, `[detect.tiles]`), each
resized to the model's 320 px input, never at the whole frame letterboxed.  So every training sample is
such a square: of the node's own tile side (or a random one of SIDES, for a model that works at more
than one), at a random place, most often over an object (most of a frame is empty water and grass, so
uniform tiles would be nearly all background) and otherwise anywhere (the glitter, paths and tree
shadows that must stay unlabelled).  Frames are cached as JPEG with an index like models/train/dataset.py.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from models.train.aerial_scenes import random_aerial_scene, to_aerial_scenario, to_aerial_toml
from models.train.augment import hflip, photometric, warp_boxes
from models.train.dataset import _save, stats
from simulator import CLASS_INDEX, CLASSES

INPUT = 320


def _render_scene(job: tuple[str, int, int, float]) -> list[dict]:
    out, seed, frames, duration = job
    from simulator.aerial.render import AerialRenderer

    cv2.setNumThreads(1)
    out_p = Path(out)
    data = random_aerial_scene(seed, duration)
    (out_p / "scenes" / f"aerial_{seed:06d}.toml").write_text(to_aerial_toml(data), encoding="utf-8")
    sc = to_aerial_scenario(data, f"aerial_{seed:06d}")
    r = AerialRenderer(sc)
    rng = np.random.default_rng([seed, 99])
    recs = []
    for i in sorted(rng.choice(r.n_frames, size=min(frames, r.n_frames), replace=False).tolist()):
        fr = r.render(int(i))
        name = f"{seed:06d}_{i:04d}.jpg"
        cv2.imwrite(str(out_p / "images" / name), fr.image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        h, w = fr.image.shape[:2]
        pose = r.true_pose(int(i))
        recs.append({"file": name, "w": w, "h": h, "scene": seed, "frame": int(i), "site": sc.site,
                     "lighting": sc.lighting, "altitude_m": round(pose.altitude, 1),
                     "boxes": [[CLASS_INDEX[lab.cls], *[round(float(v), 1) for v in lab.box]] for lab in fr.labels]})
    return recs


def build_aerial_dataset(out: str | Path, scenes: int, frames_per_scene: int = 8, first_seed: int = 1,
                         duration_s: float = 20.0, workers: int = 2) -> dict:
    """Render (or finish rendering) the frame cache; scenes already in index.json are kept."""
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "scenes").mkdir(exist_ok=True)
    index_p = out / "index.json"
    index = json.loads(index_p.read_text()) if index_p.exists() else {"images": []}
    done = {r["scene"] for r in index["images"]}
    jobs = [(str(out), s, frames_per_scene, duration_s) for s in range(first_seed, first_seed + scenes)
            if s not in done]
    t0, last = time.time(), 0.0
    pool = multiprocessing.get_context("spawn").Pool(workers) if workers > 1 else None  # spawn: see dataset.py
    results = pool.imap_unordered(_render_scene, jobs) if pool else map(_render_scene, jobs)
    try:
        for k, recs in enumerate(results, 1):
            index["images"].extend(recs)
            now = time.time()
            if now - last > 10 or k == len(jobs):
                last = now
                print(f"render: {k}/{len(jobs)} scenes, {len(index['images'])} frames, "
                      f"{k / max(now - t0, 1e-6):.2f} scenes/s", file=sys.stderr, flush=True)
            if k % 25 == 0:
                _save(index_p, index)
    finally:
        if pool:
            pool.terminate()
    index["images"].sort(key=lambda r: r["file"])
    index["classes"] = list(CLASSES)
    index["stats"] = stats(index["images"])
    _save(index_p, index)
    return index


def tile_sample(img: np.ndarray, boxes: np.ndarray, rng: np.random.Generator, side: int, crop: int = INPUT,
                p_object: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """A crop x crop piece of a side x side tile resized to the model input, as the node's tiled look
    cuts it (same scale: INPUT / side): over a random object (anywhere in the piece) with probability
    p_object, else anywhere.  crop < INPUT trains on less of a tile at the same scale: the network is
    fully convolutional, and small objects need little context, so a step costs a fraction."""
    h, w = img.shape[:2]
    scale = INPUT / min(side, w, h)
    win = int(round(crop / scale))
    if len(boxes) and rng.random() < p_object:
        b = boxes[rng.integers(len(boxes))]
        cx, cy = (b[1] + b[3]) / 2, (b[2] + b[4]) / 2
        x0 = int(np.clip(cx - rng.uniform(0.1, 0.9) * win, 0, w - win))
        y0 = int(np.clip(cy - rng.uniform(0.1, 0.9) * win, 0, h - win))
    else:
        x0, y0 = int(rng.integers(0, w - win + 1)), int(rng.integers(0, h - win + 1))
    piece = img[y0:y0 + win, x0:x0 + win]
    out = cv2.resize(piece, (crop, crop), interpolation=cv2.INTER_LINEAR) if win != crop else piece.copy()
    s = crop / win
    return out, warp_boxes(boxes, s, -x0 * s, -y0 * s, crop, crop, min_keep=0.5, min_px=2.0)


class AerialTiles(Dataset):
    """Cached aerial frames -> augmented 320x320 tiles and their boxes (cls, x1, y1, x2, y2)."""

    def __init__(self, root: str | Path, sides: tuple[int, ...], seed: int = 0, scenes: set[int] | None = None,
                 crop: int = INPUT):
        self.root = Path(root)
        recs = json.loads((self.root / "index.json").read_text())["images"]
        self.recs = [r for r in recs if scenes is None or r["scene"] in scenes]
        self.sides, self.seed, self.crop, self.epoch = sides, seed, crop, 0

    def __len__(self) -> int:
        return len(self.recs)

    def __getitem__(self, i: int):
        rng = np.random.default_rng([self.seed, self.epoch, i])
        r = self.recs[i]
        img = cv2.imread(str(self.root / "images" / r["file"]), cv2.IMREAD_COLOR)
        boxes = np.array(r["boxes"], np.float32).reshape(-1, 5)
        if rng.random() < 0.5:
            img, boxes = hflip(img, boxes)
        side = int(self.sides[int(rng.integers(len(self.sides)))])
        side = int(round(side * (rng.uniform(0.9, 1.1) if rng.random() < 0.5 else 1.0)))
        out, b = tile_sample(img, boxes, rng, side, self.crop)
        out = photometric(out, rng)
        x = torch.from_numpy(np.ascontiguousarray(out[..., ::-1].transpose(2, 0, 1)))
        return x, torch.from_numpy(b.astype(np.float32))
