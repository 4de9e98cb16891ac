"""The self-test a candidate model passes before it replaces the running one.

Why agreement with the current model and not accuracy: the node has no labels.  A fine-tune should
find most of what the model it came from finds on the same frames; a broken export (wrong weights, a
graph that outputs nothing or NaN) finds little or nothing and must never go live.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..detect.evaluate import iou_matrix


@dataclass
class SelfTest:
    ok: bool
    reason: str | None
    frames: int
    reference_objects: int = 0
    agreed: int = 0
    ms_current: float = 0.0
    ms_candidate: float = 0.0
    details: dict = field(default_factory=dict)

    def summary(self) -> dict:
        return {"ok": self.ok, "reason": self.reason, "frames": self.frames, "objects": self.reference_objects,
                "agreed": self.agreed, "ms_current": round(self.ms_current, 1),
                "ms_candidate": round(self.ms_candidate, 1)}


def _agreed(ref, cand) -> int:
    """Objects of `ref` that `cand` finds too: same class, IoU >= 0.5, each candidate box used once."""
    if len(ref) == 0 or len(cand) == 0:
        return 0
    iou = iou_matrix(ref.boxes.astype(np.float64), cand.boxes.astype(np.float64))
    iou[ref.class_ids[:, None] != cand.class_ids[None, :]] = 0
    used: set[int] = set()
    hits = 0
    for i in np.argsort(-ref.scores):
        row = iou[i].copy()
        row[list(used)] = 0
        j = int(np.argmax(row))
        if row[j] >= 0.5:
            used.add(j)
            hits += 1
    return hits


def self_test(current, candidate, images: list[np.ndarray], *, min_agreement: float = 0.5,
              max_slowdown: float = 3.0) -> SelfTest:
    """Run both detectors on each image; the candidate must run, stay finite, agree and not be too slow."""
    if not images:
        return SelfTest(False, "no recent frames to test on (has the camera delivered any?)", 0)
    ref_n = agreed = 0
    t_cur = t_cand = 0.0
    for image in images:
        started = time.perf_counter()
        ref = current.detect(image) if current is not None else None
        t_cur += time.perf_counter() - started
        started = time.perf_counter()
        try:
            cand = candidate.detect(image)
        except Exception as exc:  # onnxruntime raises its own types
            return SelfTest(False, f"candidate failed on a frame: {type(exc).__name__}: {exc}", len(images))
        t_cand += time.perf_counter() - started
        if not (np.isfinite(cand.boxes).all() and np.isfinite(cand.scores).all()):
            return SelfTest(False, "candidate output is not finite (NaN or inf)", len(images))
        if ref is not None:
            ref_n += len(ref)
            agreed += _agreed(ref, cand)
    n = len(images)
    result = SelfTest(True, None, n, ref_n, agreed, t_cur / n * 1000, t_cand / n * 1000)
    if ref_n and agreed / ref_n < min_agreement:
        result.ok = False
        result.reason = (f"candidate found {agreed} of the {ref_n} objects the current model finds on {n} recent "
                         f"frames ({agreed / ref_n:.0%} < {min_agreement:.0%})")
    elif current is not None and result.ms_current > 0 and result.ms_candidate > max_slowdown * result.ms_current:
        result.ok = False
        result.reason = (f"candidate takes {result.ms_candidate:.0f} ms per frame, more than {max_slowdown:g}x "
                         f"the current {result.ms_current:.0f} ms")
    return result
