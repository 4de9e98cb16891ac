"""A YOLO dataset of a look the default model never saw: random simulator scenes in thick fog and rain.

Why: the fine-tune loop (issue 21) must show a measurable gain on a new site or look; the shipped
model was trained on clear reservoir and market scenes only, so weather is new to it.  Train and
validation come from different scenes (different seeds), never neighbouring frames of one scene.
  python -m models.train.newlook --out .cache/fog --train-scenes 40 --val-scenes 15 --frames 3
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from models.train.scenes import random_scene, to_scenario
from simulator import CLASS_INDEX, CLASSES
from simulator.render import Renderer

WEATHER = {"fog": {"density": 0.75}, "rain": {"intensity": 0.8}}


def render_look(out: Path, train_scenes: int, val_scenes: int, frames: int, first_seed: int = 50001,
                size: tuple[int, int] | None = None) -> dict:
    counts = {"train": 0, "val": 0}
    for split, seeds in (("train", range(first_seed, first_seed + train_scenes)),
                         ("val", range(first_seed + 10000, first_seed + 10000 + val_scenes))):
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
        for seed in seeds:
            data = random_scene(seed, 20.0)
            data["weather"] = WEATHER
            if size is not None:
                data["scenario"]["size"] = list(size)
            r = Renderer(to_scenario(data, f"look_{seed}"))
            rng = np.random.default_rng([seed, 7])
            for i in sorted(rng.choice(r.n_frames, size=min(frames, r.n_frames), replace=False).tolist()):
                fr = r.render(int(i))
                h, w = fr.image.shape[:2]
                name = f"{seed:06d}_{i:04d}"
                cv2.imwrite(str(out / "images" / split / f"{name}.jpg"), fr.image, [cv2.IMWRITE_JPEG_QUALITY, 90])
                lines = []
                for lab in fr.labels:
                    x1, y1, x2, y2 = (float(v) for v in lab.box)
                    lines.append(f"{CLASS_INDEX[lab.cls]} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} "
                                 f"{(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}\n")
                (out / "labels" / split / f"{name}.txt").write_text("".join(lines))
                counts[split] += 1
    yaml = [f"path: {out.resolve()}", "train: images/train", "val: images/val", f"nc: {len(CLASSES)}", "names:"]
    (out / "data.yaml").write_text("\n".join(yaml + [f"  {i}: {n}" for i, n in enumerate(CLASSES)]) + "\n")
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.train.newlook", description=__doc__)
    ap.add_argument("--out", required=True)
    ap.add_argument("--train-scenes", type=int, default=40)
    ap.add_argument("--val-scenes", type=int, default=15)
    ap.add_argument("--frames", type=int, default=3)
    a = ap.parse_args(argv)
    print(render_look(Path(a.out), a.train_scenes, a.val_scenes, a.frames))
    return 0


if __name__ == "__main__":
    sys.exit(main())
