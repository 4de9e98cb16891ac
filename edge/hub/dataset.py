"""The hub's training data: dataset packs from nodes, YOLO export for labelling, corrected labels back.

Layout under the receiver's root (`edge-hub receive --root`, or the service's evidence root):
  dataset/frames/<node>/<stem>.jpg|.json   every frame a node sent (its .json: pre-labels and facts)
  dataset/labels/<node>_<stem>.txt         corrected YOLO labels from `edge-hub dataset import`
Export splits by site and time: frames of one node within one `block_s` window go to the same side,
so a validation frame never has a near-identical neighbour in training; `--val-site` holds out a
whole site instead (the test for "does it work on a site it never saw").
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

from ..evidence.manifest import BundleProblem, verify_bundle

log = logging.getLogger("edge.hub.dataset")


class DatasetError(ValueError):
    """One line: what is wrong with a dataset folder or label file."""


def dismissed_wrong_object(store_url: str, node: str) -> list[str]:
    """Violation ids of `node` whose incident a dispatcher dismissed as "wrong object" (edge-hub serve's store)."""
    from .service.db import Database, StoreError

    try:
        db = Database(store_url)
    except StoreError as exc:
        raise DatasetError(str(exc)) from None
    try:
        rows = db.query("SELECT v.id FROM violations v JOIN incidents i ON v.incident = i.id WHERE v.node = ? "
                        "AND i.state = 'dismissed' AND i.dismiss_reason = 'wrong_object' ORDER BY v.id", (node,))
    finally:
        db.close()
    return [r[0] for r in rows]


def accept_pack(root: Path, node: str, bundle: str, folder: Path, key) -> str | None:
    """File a verified dataset pack under root/dataset/frames/<node>/; returns a problem or None."""
    try:
        manifest = verify_bundle(folder, key)
    except BundleProblem as exc:
        return str(exc).replace(str(folder) + "/", "")
    if manifest.get("node") != node or manifest.get("bundle") != bundle:
        return "dataset pack names another node or pack id"
    target = root / "dataset" / "frames" / node
    target.mkdir(parents=True, exist_ok=True)
    for entry in manifest["files"]:
        os.replace(folder / entry["name"], target / entry["name"])
    shutil.rmtree(folder, ignore_errors=True)
    log.info("dataset: pack %s from %s: %d frames filed", bundle, node, manifest.get("frames", 0))
    return None


def frames(root: Path) -> list[dict]:
    out = []
    for side in sorted((root / "dataset" / "frames").glob("*/*.json")):
        data = json.loads(side.read_text())
        data["_image"], data["_name"] = side.with_suffix(".jpg"), f"{side.parent.name}_{side.stem}"
        if data["_image"].exists():
            out.append(data)
    return out


def _val(group: str, percent: int) -> bool:
    return int(hashlib.sha256(group.encode()).hexdigest()[:8], 16) % 100 < percent


def _yolo_lines(objects: list[dict], size: list[int], names: list[str]) -> list[str]:
    w, h = size
    lines = []
    for o in objects:
        if o["class"] not in names:
            continue
        x1, y1, x2, y2 = o["box"]
        x1, x2 = max(0.0, x1), min(float(w), x2)
        y1, y2 = max(0.0, y1), min(float(h), y2)
        if x2 <= x1 or y2 <= y1:
            continue
        lines.append(f"{names.index(o['class'])} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} "
                     f"{(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}")
    return lines


def export(root: Path, out: Path, names: list[str], *, val_percent: int = 20, block_s: float = 600.0,
           val_site: str | None = None, min_score: float = 0.0) -> dict:
    """Write OUT/images/{train,val}, OUT/labels/{train,val}, data.yaml, classes.txt, frames.json."""
    items = frames(root)
    if not items:
        raise DatasetError(f"{root / 'dataset' / 'frames'}: no frames (pull some with `edge-hub dataset pull`)")
    corrected_dir = root / "dataset" / "labels"
    counts = {"train": 0, "val": 0, "corrected": 0, "pre_labels": 0, "hard_negatives": 0}
    index = []
    for split in ("train", "val"):
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    for it in items:
        if val_site is not None:
            split = "val" if it.get("site") == val_site else "train"
        else:
            group = f"{it.get('site')}/{it.get('node')}/{int(it['wall'] // block_s)}"
            split = "val" if _val(group, val_percent) else "train"
        name = it["_name"]
        shutil.copyfile(it["_image"], out / "images" / split / f"{name}.jpg")
        corrected = corrected_dir / f"{name}.txt"
        if corrected.exists():
            text = corrected.read_text(encoding="utf-8")
            counts["corrected"] += 1
        else:
            objects = [o for o in it.get("objects", []) if o.get("score", 1) >= min_score]
            text = "".join(line + "\n" for line in _yolo_lines(objects, it["size"], names))
            counts["pre_labels"] += 1
        (out / "labels" / split / f"{name}.txt").write_text(text, encoding="utf-8")
        counts[split] += 1
        counts["hard_negatives"] += bool(it.get("hard_negative"))
        index.append({"name": name, "split": split, "node": it.get("node"), "site": it.get("site"),
                      "wall": it["wall"], "reason": it.get("reason"), "lighting": it.get("lighting"),
                      "hard_negative": bool(it.get("hard_negative")), "model": it.get("model"),
                      "labels": "corrected" if corrected.exists() else "pre-labels"})
    (out / "classes.txt").write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
    yaml = [f"path: {out.resolve()}", "train: images/train", "val: images/val", f"nc: {len(names)}", "names:"]
    yaml += [f"  {i}: {n}" for i, n in enumerate(names)]
    (out / "data.yaml").write_text("\n".join(yaml) + "\n", encoding="utf-8")
    (out / "frames.json").write_text(json.dumps(index, indent=1), encoding="utf-8")
    hard = [e["name"] for e in index if e["hard_negative"]]
    (out / "hard_negatives.txt").write_text("".join(f"{n}\n" for n in hard), encoding="utf-8")
    return counts


def import_labels(root: Path, labels: Path, names: list[str]) -> dict:
    """Read corrected YOLO label files (LABELS/**/<node>_<stem>.txt) back into root/dataset/labels/.

    Every file is checked before any is taken: a bad line stops the import with its file and line."""
    known = {it["_name"] for it in frames(root)}
    files = sorted(p for p in labels.rglob("*.txt") if p.name not in ("classes.txt", "hard_negatives.txt"))
    if not files:
        raise DatasetError(f"{labels}: no label files (*.txt)")
    checked: list[tuple[str, str]] = []
    boxes = 0
    for path in files:
        if path.stem not in known:
            raise DatasetError(f"{path}: no exported frame of that name")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split()
            try:
                cls, values = int(parts[0]), [float(v) for v in parts[1:5]]
            except (ValueError, IndexError):
                raise DatasetError(f"{path}:{n}: expected `class cx cy w h`, got {line.strip()!r}") from None
            if len(parts) != 5 or not 0 <= cls < len(names) or not all(0 <= v <= 1 for v in values):
                raise DatasetError(f"{path}:{n}: class must be 0-{len(names) - 1} and values in 0..1")
            boxes += 1
        checked.append((path.stem, path.read_text(encoding="utf-8")))
    target = root / "dataset" / "labels"
    target.mkdir(parents=True, exist_ok=True)
    for stem, text in checked:
        tmp = target / f"{stem}.txt.part"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target / f"{stem}.txt")
    return {"files": len(checked), "boxes": boxes}
