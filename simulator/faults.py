"""Camera faults on a rendered frame, and what they do to the labels and to frame delivery.

- covered: something over the lens (from the bottom up, `share` of the picture): dark and nearly
  featureless; objects under it are no longer visible, so their labels go;
- defocus: a Gaussian blur (labels stay: the objects are still there);
- knocked: the camera turned aside: the whole picture shifts and rotates and stays so; labels move
  with it (and leave when they leave the frame);
- drop: a share of frames is never delivered (seeded per frame); signal_lost: none is;
- jitter: frame times are off by up to `rate` of a frame interval (a camera whose clock stutters).
"""

from __future__ import annotations

import cv2
import numpy as np

from simulator.canvas import Label
from simulator.conditions import CameraFault, fault_at


def knocked_matrix(f: CameraFault, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    m = cv2.getRotationMatrix2D((w / 2, h / 2), f.angle_deg, 1.0)
    m[0, 2] += f.dx * w
    m[1, 2] += f.dy * h
    return m


def _moved(labels: list[Label], m: np.ndarray, size: tuple[int, int]) -> list[Label]:
    w, h = size
    out = []
    for lab in labels:
        x1, y1, x2, y2 = lab.box
        pts = np.array([[x1, y1, 1], [x2, y1, 1], [x1, y2, 1], [x2, y2, 1]], np.float64) @ m.T
        bx1, by1 = max(pts[:, 0].min(), 0.0), max(pts[:, 1].min(), 0.0)
        bx2, by2 = min(pts[:, 0].max(), float(w)), min(pts[:, 1].max(), float(h))
        area = (x2 - x1) * (y2 - y1)
        if bx2 - bx1 >= 3 and by2 - by1 >= 3 and (bx2 - bx1) * (by2 - by1) >= 0.3 * area:
            out.append(Label(lab.cls, (float(bx1), float(by1), float(bx2), float(by2)), lab.actor))
    return out


def apply_faults(img: np.ndarray, labels: list[Label], t: float, faults: list[CameraFault],
                 rng: np.random.Generator) -> tuple[np.ndarray, list[Label]]:
    h, w = img.shape[:2]
    knocked = fault_at(faults, "knocked", t)
    if knocked is not None:
        m = knocked_matrix(knocked, (w, h))
        img = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)
        labels = _moved(labels, m, (w, h))
    defocus = fault_at(faults, "defocus", t)
    if defocus is not None:
        sigma = defocus.blur_px * h / 720
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    covered = fault_at(faults, "covered", t)
    if covered is not None:
        top = int(h * (1 - covered.share))
        roi = img[top:].astype(np.float32)
        cloth = 18 + 6 * rng.standard_normal((1, w, 1)).astype(np.float32)  # a dark, faintly lit cover
        img[top:] = np.clip(roi * (1 - covered.opacity) + cloth * covered.opacity, 0, 255).astype(np.uint8)
        labels = [lab for lab in labels if (lab.box[1] + lab.box[3]) / 2 < top]
    return img, labels


def delivered(faults: list[CameraFault], t: float, seed: int, index: int) -> bool:
    """Whether frame `index` (at scene time t) reaches the node."""
    if fault_at(faults, "signal_lost", t) is not None:
        return False
    drop = fault_at(faults, "drop", t)
    if drop is None:
        return True
    return bool(np.random.default_rng([seed, 0xD0, index]).random() >= drop.rate)


def jittered(faults: list[CameraFault], t: float, fps: float, seed: int, index: int) -> float:
    jitter = fault_at(faults, "jitter", t)
    if jitter is None:
        return t
    rate = min(jitter.rate, 0.45)  # frames never swap order
    off = np.random.default_rng([seed, 0x717, index]).uniform(-rate, rate) / fps
    return max(0.0, t + float(off))
