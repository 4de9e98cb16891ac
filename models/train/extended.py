"""Training scenes with the simulator's newer features, and a YOLO dataset mixing them with the old kind.

Why: models/default was trained on `scenes.random_scene` alone, written before the simulator learnt
motorbikes and scooters, rods aimed toward / away from the camera, packed rods (a look-alike, not
labelled), rods on stands, wading anglers, umbrellas and tents, rain / fog / glare, defocus and
crowds.  `extended_scene` is a random scene of the old generator with those added (its own random
stream, so the old part of a seed is unchanged); `render_mix` writes a YOLO-format folder
(images/{train,val}, labels/..., data.yaml) for `python -m models.train --init models/default ...`:
train = extended scenes + old-style scenes (so the old classes and looks do not regress), val =
extended scenes of seeds held apart.  The shipped scenarios are never used: they stay the held-out
evaluation set.
  python -m models.train.extended --out .cache/ext --ext-scenes 300 --old-scenes 150 --val-scenes 30
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
from pathlib import Path

import cv2
import numpy as np

from models.train.scenes import COLORS, _Scene, random_scene, to_scenario
from simulator import CLASS_INDEX, CLASSES
from simulator.render import Renderer

EXT_SEED0 = 200001  # extended training scenes; val scenes start at EXT_SEED0 + 100000
OLD_SEED0 = 20001  # old-style scenes, seeds the shipped model never saw (it used 1-1500)


def _reservoir_extras(s: _Scene) -> None:
    dur = s.dur
    for _ in range(int(s.rng.choice([1, 1, 2, 2, 3]))):  # anglers with rods along the line of sight
        x, y = s.u(0.03, 0.97), s.u(0.61, 0.78)
        aim = s.pick(["toward", "away", "away", "toward", "side"])
        s.person(s.still(x, y), pose="sit" if s.p(0.3) else "stand", rod=[[0.0, dur]], rod_aim=aim,
                 facing={"toward": "toward", "away": "away"}.get(aim, "auto"),
                 rod_side=s.pick(["auto", "left", "right"]),
                 shelter=s.pick(["none", "none", "umbrella", "tent"]))
    if s.p(0.5):  # a wader at the water's edge, legs hidden
        s.person(s.still(s.u(0.05, 0.95), s.u(0.585, 0.605)), facing=s.pick(["away", "auto", "left", "right"]),
                 rod=[[0.0, dur]] if s.p(0.85) else [], rod_side=s.pick(["auto", "left", "right"]),
                 wading_depth_m=round(s.u(0.25, 0.9), 2), rod_aim=s.pick(["side", "side", "away"]))
    if s.p(0.4):  # a rod on a stand, nobody near
        s.add("rod_stand", s.still(s.u(0.05, 0.95), s.u(0.61, 0.74)), facing=s.pick(["left", "right"]))
    for _ in range(int(s.rng.integers(0, 3))):  # packed rods carried along the path or the bank
        s.person(s.moving(s.u(0.62, 0.93), s.u(0.04, 0.08)), packed_rod=[[0.0, dur]])
    if s.p(0.25):
        s.person(s.still(s.u(0.05, 0.95), s.u(0.62, 0.9)), packed_rod=[[0.0, dur]], pose="sit" if s.p(0.4) else "stand")


def _market_extras(s: _Scene) -> None:
    for _ in range(int(s.rng.choice([1, 2, 2, 3, 4]))):  # motorbikes and scooters in traffic
        y, d = (0.63, -1) if s.p(0.5) else (0.71, 1)
        path = s.moving(y + s.u(-0.02, 0.02), s.u(0.1, 0.3))
        if (path[-1][1] - path[0][1]) * d < 0:
            path = [[path[0][0], path[1][1], path[1][2]], [path[1][0], path[0][1], path[0][2]]]
        s.add("motorbike", path, style=s.pick(["auto", "motorbike", "scooter"]),
              color=s.pick(COLORS) if s.p(0.5) else None, lights=s.pick(["auto", "on", "off"]))
    for _ in range(int(s.rng.choice([0, 1, 1, 2]))):  # parked: fire lane, sidewalks, bays, anywhere
        y = s.pick([0.545, 0.545, s.u(0.5, 0.8), s.u(0.82, 0.95), 0.785])
        s.add("motorbike", s.still(s.u(0.0, 1.0), y + s.u(-0.01, 0.01)), style=s.pick(["motorbike", "scooter"]),
              color=s.pick(COLORS) if s.p(0.5) else None, rider=s.pick(["none", "none", "always"]),
              facing=s.pick(["auto", "left", "right"]), lights="off")


def _weather(s: _Scene, sc: dict) -> None:
    w: dict = {}
    if s.p(0.2):
        w["rain"] = {"intensity": round(s.u(0.3, 0.9), 2), "angle_deg": round(s.u(-20, 20), 1)}
    if s.p(0.2):
        w["fog"] = {"density": round(s.u(0.25, 0.8), 2)}
    if s.p(0.3):
        w["glare"] = [{"x": round(s.u(0.0, 1.0), 3), "y": round(s.u(0.2, 0.9), 3),
                       "radius": round(s.u(0.05, 0.2), 3), "strength": round(s.u(0.4, 0.9), 2)}
                      for _ in range(int(s.rng.integers(1, 3)))]
    if w:
        sc["weather"] = w
    if s.p(0.08):
        sc["camera_faults"] = [{"kind": "defocus", "blur_px": round(s.u(1.5, 5.0), 1)}]
    if s.p(0.25):
        band = s.pick([[0.84, 0.99], [0.39, 0.47]]) if sc["scenario"]["site"] == "market" else [0.8, 0.95]
        sc["crowds"] = [{"id": "crowd", "count": int(s.rng.integers(8, 35)), "band": band,
                         "seed": int(s.rng.integers(0, 10000)), "stop_share": round(s.u(0, 0.4), 2)}]


def extended_scene(seed: int, duration_s: float = 30.0) -> dict:
    """A `random_scene` of this seed plus the newer simulator features (docs/scenarios.md)."""
    sc = random_scene(seed, duration_s)
    s = _Scene(np.random.default_rng([seed, 4242]), duration_s)
    s.actors, s.occluders = sc["actors"], sc["occluders"]
    (_reservoir_extras if sc["scenario"]["site"] == "reservoir" else _market_extras)(s)
    _weather(s, sc)
    sc["scenario"]["name"] = f"ext_{seed:06d}"
    return sc


def _render(job: tuple[str, str, int, int, bool]) -> int:
    out, split, seed, frames, ext = job
    cv2.setNumThreads(1)
    root = Path(out)
    data = extended_scene(seed) if ext else random_scene(seed)
    r = Renderer(to_scenario(data, data["scenario"]["name"]))
    rng = np.random.default_rng([seed, 99])
    n = 0
    for i in sorted(rng.choice(r.n_frames, size=min(frames, r.n_frames), replace=False).tolist()):
        name = f"{'e' if ext else 'o'}{seed:06d}_{i:04d}"
        if (root / "labels" / split / f"{name}.txt").exists():
            n += 1
            continue
        fr = r.render(int(i))
        h, w = fr.image.shape[:2]
        cv2.imwrite(str(root / "images" / split / f"{name}.jpg"), fr.image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        lines = []
        for lab in fr.labels:
            x1, y1, x2, y2 = (float(v) for v in lab.box)
            lines.append(f"{CLASS_INDEX[lab.cls]} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} "
                         f"{(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}\n")
        tmp = root / "labels" / split / f"{name}.tmp"
        tmp.write_text("".join(lines))
        tmp.replace(root / "labels" / split / f"{name}.txt")  # the label last: a resumed run skips it
        n += 1
    return n


def render_mix(out: Path, ext_scenes: int, old_scenes: int, val_scenes: int, frames: int = 6,
               workers: int = 2) -> dict:
    """Render the mixed YOLO folder (resumable: frames whose label file exists are kept)."""
    for split in ("train", "val"):
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    jobs = ([(str(out), "train", s, frames, True) for s in range(EXT_SEED0, EXT_SEED0 + ext_scenes)]
            + [(str(out), "train", s, frames, False) for s in range(OLD_SEED0, OLD_SEED0 + old_scenes)]
            + [(str(out), "val", s, 3, True) for s in range(EXT_SEED0 + 100000, EXT_SEED0 + 100000 + val_scenes)])
    pool = multiprocessing.get_context("spawn").Pool(workers) if workers > 1 else None
    try:
        counts = list(pool.imap(_render, jobs, chunksize=2) if pool else map(_render, jobs))
    finally:
        if pool:
            pool.terminate()
    yaml = [f"path: {out.resolve()}", "train: images/train", "val: images/val", f"nc: {len(CLASSES)}", "names:"]
    (out / "data.yaml").write_text("\n".join(yaml + [f"  {i}: {n}" for i, n in enumerate(CLASSES)]) + "\n")
    n_val = sum(c for c, j in zip(counts, jobs, strict=True) if j[1] == "val")
    return {"train_images": sum(counts) - n_val, "val_images": n_val}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.train.extended", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--ext-scenes", type=int, default=300)
    ap.add_argument("--old-scenes", type=int, default=150)
    ap.add_argument("--val-scenes", type=int, default=30)
    ap.add_argument("--frames", type=int, default=6, help="frames per training scene")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args(argv)
    print(render_mix(Path(a.out), a.ext_scenes, a.old_scenes, a.val_scenes, a.frames, a.workers), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
