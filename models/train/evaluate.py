"""mAP@0.5 (all-point interpolated, VOC/COCO style) on renders of the shipped scenarios.

Why here and not in edge/: the training tool must measure a model exactly as the node will run it
(letterbox to 320, YOLOv8 output, NMS) without depending on the runtime under construction.  Two
views: full frames letterboxed to 320, and "2x zoom" crops (640x640 windows of the 1280x720 frame,
resized to 320, i.e. twice the full-frame scale) like the node's motion crops.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from models.train.augment import PAD, letterbox, to_input
from simulator import CLASS_INDEX, CLASSES
from simulator.render import Renderer
from simulator.scenario import SCENARIO_DIR, load_scenario

# The held-out evaluation set: the 12 fixed-camera scenarios shipped in simulator/scenarios/ (named, so
# that scenarios added there later, e.g. drone views, do not silently change the benchmark).
EVAL_SCENARIOS = (
    "market_day_delivery_cart", "market_day_fire_lane_parking", "market_day_stall_market_area",
    "market_day_stall_sidewalk", "market_dusk_busy_mixed", "market_night_stall_and_traffic",
    "reservoir_day_angler", "reservoir_day_bank_walk_no_rod", "reservoir_day_busy_mixed",
    "reservoir_dusk_two_anglers", "reservoir_night_angler", "reservoir_night_boat_loiter",
)

Predict = Callable[[np.ndarray], np.ndarray]  # [1,3,320,320] float32 -> [4+C, N]


def onnx_predictor(path: str | Path, threads: int = 2) -> Predict:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return lambda x: sess.run(None, {name: x})[0][0]


def torch_predictor(export_module) -> Predict:
    import torch

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return export_module(torch.from_numpy(x)).numpy()[0]

    return run


def postprocess(out: np.ndarray, conf: float = 0.001, iou: float = 0.6, max_det: int = 300):
    """[4+C, N] -> boxes [n,4] xyxy (input px), scores [n], classes [n]; multi-label, class-wise NMS."""
    scores = out[4:].T  # [N, C]
    ai, ci = np.nonzero(scores > conf)
    if len(ai) == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    sc = scores[ai, ci]
    if len(sc) > 3000:
        top = np.argsort(-sc)[:3000]
        ai, ci, sc = ai[top], ci[top], sc[top]
    cx, cy, w, h = out[:4, ai]
    xywh = np.stack((cx - w / 2, cy - h / 2, w, h), 1)
    keep = cv2.dnn.NMSBoxesBatched(xywh.tolist(), sc.tolist(), ci.tolist(), conf, iou)
    keep = np.asarray(keep, dtype=np.int64).reshape(-1)[:max_det]
    boxes = np.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), 1)[keep]
    return boxes.astype(np.float32), sc[keep].astype(np.float32), ci[keep]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod((rb - lt).clip(0), -1)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None] - inter + 1e-9)


class APAccumulator:
    """Collects per-image detections and ground truth; `result()` gives AP@0.5 per class and the mean.
    Ground truth marked `ignore` (cut-off objects in crops) neither counts as missed nor as a match."""

    def __init__(self, nc: int = len(CLASSES), iou: float = 0.5):
        self.nc, self.iou = nc, iou
        self.recs: list[list[tuple[float, bool]]] = [[] for _ in range(nc)]
        self.npos = np.zeros(nc, np.int64)

    def add(self, boxes, scores, classes, gt_boxes, gt_classes, gt_ignore=None) -> None:
        gt_ignore = np.zeros(len(gt_boxes), bool) if gt_ignore is None else gt_ignore
        for c in range(self.nc):
            g = gt_boxes[(gt_classes == c)]
            gi = gt_ignore[gt_classes == c]
            self.npos[c] += int((~gi).sum())
            sel = classes == c
            d, s = boxes[sel], scores[sel]
            order = np.argsort(-s)
            d, s = d[order], s[order]
            ious = iou_matrix(d, g)
            used = np.zeros(len(g), bool)
            for k in range(len(d)):
                if len(g):
                    j = int(np.argmax(ious[k]))
                    if ious[k, j] >= self.iou:
                        if gi[j]:
                            continue
                        if not used[j]:
                            used[j] = True
                            self.recs[c].append((float(s[k]), True))
                            continue
                self.recs[c].append((float(s[k]), False))

    def result(self) -> dict:
        aps = {}
        for c in range(self.nc):
            aps[CLASSES[c]] = round(ap_all_point(self.recs[c], int(self.npos[c])), 4)
        valid = [aps[CLASSES[c]] for c in range(self.nc) if self.npos[c] > 0]
        return {"map50": round(float(np.mean(valid)), 4) if valid else 0.0, "per_class_ap50": aps,
                "gt_per_class": {CLASSES[c]: int(self.npos[c]) for c in range(self.nc)}}


def ap_all_point(recs: list[tuple[float, bool]], npos: int) -> float:
    """Area under the interpolated (monotone) precision-recall curve, all points (VOC2010+/COCO-like)."""
    if npos == 0:
        return 0.0
    if not recs:
        return 0.0
    recs = sorted(recs, key=lambda r: -r[0])
    tp = np.cumsum([r[1] for r in recs])
    fp = np.cumsum([not r[1] for r in recs])
    recall = tp / npos
    precision = tp / np.maximum(tp + fp, 1e-9)
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([1.0], precision, [0.0]))
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    i = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def eval_frames(step: int = 5, scenarios: list[str] | None = None, offset: int = 0) -> Iterator[tuple]:
    """(scenario name, frame index, BGR image, gt boxes [n,4], gt classes [n]) for every step-th frame."""
    paths = [SCENARIO_DIR / f"{n}.toml" for n in EVAL_SCENARIOS] if not scenarios else [Path(s) for s in scenarios]
    for p in paths:
        sc = load_scenario(p)
        r = Renderer(sc)
        for i in range(offset, r.n_frames, step):
            fr = r.render(i)
            gb = np.array([lab.box for lab in fr.labels], np.float32).reshape(-1, 4)
            gc = np.array([CLASS_INDEX[lab.cls] for lab in fr.labels], np.int64)
            yield sc.name, i, fr.image, gb, gc


def zoom_windows(w: int, h: int, side: int) -> list[tuple[int, int]]:
    """Top-left corners of square windows covering the frame, centred vertically, evenly overlapped."""
    nx = max(1, int(np.ceil((w - side) / (side / 2))) + 1) if w > side else 1
    xs = np.linspace(0, max(w - side, 0), nx).round().astype(int) if w > side else [(w - side) // 2]
    y = (h - side) // 2
    return [(int(x), y) for x in xs]


def evaluate(predict: Predict, step: int = 5, zoom: bool = False, scenarios: list[str] | None = None,
             size: int = 320, conf: float = 0.001, progress: bool = True) -> dict:
    """AP@0.5 per class on full letterboxed frames (and on 2x zoom crops when `zoom`)."""
    full, crops = APAccumulator(), APAccumulator()
    per_scn: dict[str, APAccumulator] = {}
    t0, n, last, ms = time.time(), 0, 0.0, []
    for name, _i, img, gb, gc in eval_frames(step, scenarios):
        lb, r, (px, py) = letterbox(img, size)
        t = time.perf_counter()
        out = predict(to_input(lb))
        ms.append((time.perf_counter() - t) * 1000)
        b, s, c = postprocess(out, conf)
        b = (b - np.array([px, py, px, py], np.float32)) / r
        full.add(b, s, c, gb, gc)
        per_scn.setdefault(name, APAccumulator()).add(b, s, c, gb, gc)
        if zoom:
            h, w = img.shape[:2]
            side = int(round(max(w, h) / 2))  # 2x the full-frame letterbox scale
            for x0, y0 in zoom_windows(w, h, side):
                crop = np.full((side, side, 3), PAD, np.uint8)
                ys, xs = max(y0, 0), max(x0, 0)
                src = img[ys: y0 + side, xs: x0 + side]
                crop[ys - y0: ys - y0 + src.shape[0], xs - x0: xs - x0 + src.shape[1]] = src
                inp = cv2.resize(crop, (size, size), interpolation=cv2.INTER_LINEAR)
                cb, cs, cc = postprocess(predict(to_input(inp)), conf)
                cb = cb * (side / size) + np.array([x0, y0, x0, y0], np.float32)
                clipped = gb.copy()
                clipped[:, [0, 2]] = clipped[:, [0, 2]].clip(max(x0, 0), min(x0 + side, w))
                clipped[:, [1, 3]] = clipped[:, [1, 3]].clip(max(y0, 0), min(y0 + side, h))
                area = lambda x: (x[:, 2] - x[:, 0]).clip(0) * (x[:, 3] - x[:, 1]).clip(0)  # noqa: E731
                frac = area(clipped) / np.maximum(area(gb), 1e-9)
                inside = frac > 0
                crops.add(cb, cs, cc, clipped[inside], gc[inside], (frac < 0.5)[inside])
        n += 1
        if progress and time.time() - last > 10:
            last = time.time()
            print(f"eval: {n} frames ({name}), {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    res = {"frames": n, "step": step, "full_frame": full.result(),
           "per_scenario_map50": {k: v.result()["map50"] for k, v in per_scn.items()},
           "ms_per_inference": round(float(np.median(ms)), 2) if ms else None}
    if zoom:
        res["zoom2x_crops"] = crops.result()
    return res


def format_table(res: dict) -> str:
    """A markdown table of AP@0.5 per class (full frame, and zoom crops when present)."""
    cols = [("full frame", res["full_frame"])] + ([("2x zoom crops", res["zoom2x_crops"])] if "zoom2x_crops" in res else [])
    lines = ["| class | " + " | ".join(f"AP@0.5 {n}" for n, _ in cols) + " | objects (full) |",
             "|---|" + "---|" * len(cols) + "---|"]
    for c in CLASSES:
        lines.append(f"| {c} | " + " | ".join(f"{r['per_class_ap50'][c]:.3f}" for _, r in cols)
                     + f" | {res['full_frame']['gt_per_class'][c]} |")
    lines.append("| **mAP@0.5** | " + " | ".join(f"**{r['map50']:.3f}**" for _, r in cols) + " | |")
    return "\n".join(lines)


def save(res: dict, path: str | Path) -> None:
    Path(path).write_text(json.dumps(res, indent=2))


def evaluate_runtime(model_dir: str | Path, step: int = 5, threads: int = 2) -> dict:
    """The same full-frame AP, but through the node's own detector (edge.detect.Detector), if present:
    checks that the runtime's letterbox, decoding and box mapping agree with this evaluation."""
    from edge.detect import Detector

    det = Detector(model_dir, score_threshold=0.001, iou_threshold=0.6, threads=threads)
    acc = APAccumulator()
    n = 0
    for _name, _i, img, gb, gc in eval_frames(step):
        d = det.detect(img)
        acc.add(np.asarray(d.boxes, np.float32).reshape(-1, 4), np.asarray(d.scores, np.float32),
                np.asarray(d.class_ids, np.int64), gb, gc)
        n += 1
    return {"frames": n, "step": step, "full_frame": acc.result()}


def speed(model_path: str | Path, threads: int = 2, runs: int = 100) -> dict:
    """Milliseconds per inference (onnxruntime, `threads` intra-op threads), after warm-up."""
    predict = onnx_predictor(model_path, threads)
    x = np.random.rand(1, 3, 320, 320).astype(np.float32)
    for _ in range(10):
        predict(x)
    ms = []
    for _ in range(runs):
        t = time.perf_counter()
        predict(x)
        ms.append((time.perf_counter() - t) * 1000)
    return {"threads": threads, "median_ms": round(float(np.median(ms)), 2),
            "p90_ms": round(float(np.percentile(ms, 90)), 2), "min_ms": round(float(np.min(ms)), 2)}
