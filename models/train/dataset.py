"""Render random scenes to a cached dataset on disk: JPEG frames + one JSON index of pixel boxes.

Why a cache: rendering is cheap (~10 ms/frame) but decoding a JPEG is cheaper still, and a fixed set
makes runs reproducible and resumable.  Layout of DIR:
  scenes/train_NNNNNN.toml   the scenario of each scene (documented format, re-renderable)
  images/NNNNNN_FFFF.jpg     full-resolution frames
  index.json                 {"images": [{"file", "w", "h", "scene", "frame", "lighting", "site",
                              "boxes": [[cls, x1, y1, x2, y2], ...]}], ...}
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from models.train.scenes import random_scene, to_scenario, to_toml
from simulator import CLASS_INDEX, CLASSES
from simulator.render import Renderer


def _render_scene(job: tuple[str, int, int, float]) -> list[dict]:
    """Render `frames` random frames of scene `seed` into out/; return their index records."""
    out, seed, frames, duration = job
    cv2.setNumThreads(1)
    out_p = Path(out)
    data = random_scene(seed, duration)
    (out_p / "scenes" / f"train_{seed:06d}.toml").write_text(to_toml(data), encoding="utf-8")
    sc = to_scenario(data, f"train_{seed:06d}")
    r = Renderer(sc)
    rng = np.random.default_rng([seed, 99])
    idx = sorted(rng.choice(r.n_frames, size=min(frames, r.n_frames), replace=False).tolist())
    recs = []
    for i in idx:
        fr = r.render(int(i))
        name = f"{seed:06d}_{i:04d}.jpg"
        cv2.imwrite(str(out_p / "images" / name), fr.image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        h, w = fr.image.shape[:2]
        boxes = [[CLASS_INDEX[lab.cls], *[round(float(v), 1) for v in lab.box]] for lab in fr.labels]
        recs.append({"file": name, "w": w, "h": h, "scene": seed, "frame": int(i), "site": sc.site,
                     "lighting": sc.lighting, "boxes": boxes})
    return recs


def build_dataset(out: str | Path, scenes: int, frames_per_scene: int = 8, first_seed: int = 1,
                  duration_s: float = 30.0, workers: int = 2) -> dict:
    """Render (or finish rendering) a dataset; scenes already in index.json are kept, not re-rendered."""
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "scenes").mkdir(exist_ok=True)
    index_p = out / "index.json"
    index = json.loads(index_p.read_text()) if index_p.exists() else {"images": []}
    done = {r["scene"] for r in index["images"]}
    seeds = [s for s in range(first_seed, first_seed + scenes) if s not in done]
    jobs = [(str(out), s, frames_per_scene, duration_s) for s in seeds]
    t0, last = time.time(), 0.0
    # Workers are spawned, not forked: a fork of a process with threads running (onnxruntime, torch, a
    # test suite's MQTT clients) can inherit a held lock and hang forever.  One worker renders inline.
    pool = multiprocessing.get_context("spawn").Pool(workers) if workers > 1 else None
    results = pool.imap_unordered(_render_scene, jobs, chunksize=2) if pool else map(_render_scene, jobs)
    try:
        for k, recs in enumerate(results, 1):
            index["images"].extend(recs)
            now = time.time()
            if now - last > 5 or k == len(jobs):
                last = now
                rate = k / max(now - t0, 1e-6)
                print(f"render: {k}/{len(jobs)} scenes, {len(index['images'])} images, "
                      f"{rate:.1f} scenes/s, eta {(len(jobs) - k) / max(rate, 1e-6):.0f} s",
                      file=sys.stderr, flush=True)
            if k % 200 == 0:
                _save(index_p, index)
    finally:
        if pool:
            pool.terminate()
    index["images"].sort(key=lambda r: r["file"])
    index["classes"] = list(CLASSES)
    index["stats"] = stats(index["images"])
    _save(index_p, index)
    return index


def _save(path: Path, index: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(index))
    tmp.replace(path)


def stats(records: list[dict]) -> dict:
    """Object counts per class and images per lighting (for the model card)."""
    counts = dict.fromkeys(CLASSES, 0)
    light: dict[str, int] = {}
    for r in records:
        light[r["lighting"]] = light.get(r["lighting"], 0) + 1
        for b in r["boxes"]:
            counts[CLASSES[b[0]]] += 1
    return {"images": len(records), "objects": counts, "lighting": light}


def load_index(root: str | Path) -> list[dict]:
    return json.loads((Path(root) / "index.json").read_text())["images"]
