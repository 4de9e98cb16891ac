"""Letterbox (the runtime's exact preprocessing) and training augmentation.

Why two sample kinds: the node runs the model on whole frames letterboxed to 320 (objects 4x smaller
than at 720p, rods ~1 px wide) and on square crops around motion resized to 320 (objects up to ~3x
larger), so training mixes both.  A letterboxed frame leaves ~44 % of the input as padding; half of
the time that band is filled with a zoomed crop of another frame, which doubles the objects per step.
"""

from __future__ import annotations

import cv2
import numpy as np

PAD = 114


def letterbox(img: np.ndarray, size: int = 320) -> tuple[np.ndarray, float, tuple[float, float]]:
    """Runtime letterbox: keep aspect, INTER_LINEAR resize to fit, pad 114 split evenly (BGR in/out).
    Returns (image, scale, (pad_x, pad_y)) with input = frame * scale + pad."""
    h, w = img.shape[:2]
    r = min(size / h, size / w)
    nw, nh = int(round(w * r)), int(round(h * r))
    out = np.full((size, size, 3), PAD, np.uint8)
    dx, dy = (size - nw) / 2, (size - nh) / 2
    top, left = int(round(dy - 0.1)), int(round(dx - 0.1))
    resized = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR) if (nw, nh) != (w, h) else img
    out[top: top + nh, left: left + nw] = resized
    return out, r, (left, top)


def to_input(img_bgr: np.ndarray) -> np.ndarray:
    """BGR uint8 HxWx3 -> float32 1x3xHxW RGB in 0..1 (what the ONNX model takes)."""
    return np.ascontiguousarray(img_bgr[..., ::-1].transpose(2, 0, 1)[None], dtype=np.float32) / 255.0


def warp_boxes(boxes: np.ndarray, scale: float, ox: float, oy: float, w: int, h: int,
               min_keep: float = 0.4, min_px: float = 2.0) -> np.ndarray:
    """Scale/translate [n,5] (cls, x1, y1, x2, y2), clip to w x h, drop boxes mostly cut off or tiny."""
    if len(boxes) == 0:
        return boxes.reshape(0, 5)
    b = boxes.copy()
    b[:, 1:] = b[:, 1:] * scale + np.array([ox, oy, ox, oy])
    area0 = (b[:, 3] - b[:, 1]) * (b[:, 4] - b[:, 2])
    b[:, [1, 3]] = b[:, [1, 3]].clip(0, w)
    b[:, [2, 4]] = b[:, [2, 4]].clip(0, h)
    bw, bh = b[:, 3] - b[:, 1], b[:, 4] - b[:, 2]
    keep = (bw >= min_px) & (bh >= min_px) & (bw * bh >= min_keep * area0)
    return b[keep]


def crop_resize(img: np.ndarray, boxes: np.ndarray, cx: float, cy: float, side: float, out_w: int,
                out_h: int) -> tuple[np.ndarray, np.ndarray]:
    """Crop an out_w:out_h window of height `side` px centred at (cx, cy), pad 114, resize (INTER_LINEAR)."""
    s = out_h / side
    # affine: dst = src * s + t, with the window centre mapped to the output centre
    tx, ty = out_w / 2 - cx * s, out_h / 2 - cy * s
    if s < 1:  # shrink like the runtime does: crop first, then cv2.resize (not warpAffine's sampling)
        sw, sh = out_w / s, side
        x0, y0 = int(round(cx - sw / 2)), int(round(cy - sh / 2))
        x1, y1 = x0 + int(round(sw)), y0 + int(round(sh))
        H, W = img.shape[:2]
        pad = cv2.copyMakeBorder(img[max(y0, 0):min(y1, H), max(x0, 0):min(x1, W)],
                                 max(-y0, 0), max(y1 - H, 0), max(-x0, 0), max(x1 - W, 0),
                                 cv2.BORDER_CONSTANT, value=(PAD, PAD, PAD))
        out = cv2.resize(pad, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
        sx, sy = out_w / pad.shape[1], out_h / pad.shape[0]
        b = boxes.copy()
        if len(b):
            b[:, [1, 3]] = (b[:, [1, 3]] - x0) * sx
            b[:, [2, 4]] = (b[:, [2, 4]] - y0) * sy
        return out, warp_boxes(b, 1.0, 0, 0, out_w, out_h)
    m = np.array([[s, 0, tx], [0, s, ty]], np.float32)
    out = cv2.warpAffine(img, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=(PAD, PAD, PAD))
    return out, warp_boxes(boxes, s, tx, ty, out_w, out_h)


def photometric(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """HSV jitter, brightness/contrast, grey, blur, sensor noise, JPEG: cameras differ from the renderer."""
    if rng.random() < 0.8:
        hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV).astype(np.float32)
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-4, 4)) % 180
        hsv[..., 1] *= rng.uniform(0.5, 1.4)
        hsv[..., 2] *= rng.uniform(0.6, 1.35)
        img = cv2.cvtColor(hsv.clip(0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR)
    if rng.random() < 0.3:
        img = cv2.convertScaleAbs(img, alpha=rng.uniform(0.7, 1.3), beta=rng.uniform(-25, 25))
    if rng.random() < 0.08:
        img = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    if rng.random() < 0.15:
        img = cv2.GaussianBlur(img, (3, 3), rng.uniform(0.3, 0.9))
    if rng.random() < 0.3:
        n = rng.normal(0, rng.uniform(2, 8), img.shape[:2] + (1,)).astype(np.float32)
        img = (img.astype(np.float32) + n).clip(0, 255).astype(np.uint8)
    if rng.random() < 0.2:
        ok, enc = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 90))])
        img = cv2.imdecode(enc, cv2.IMREAD_COLOR)
    return img


def hflip(img: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = img.shape[1]
    b = boxes.copy()
    if len(b):
        b[:, [1, 3]] = w - boxes[:, [3, 1]]
    return img[:, ::-1].copy(), b


def random_crop(img: np.ndarray, boxes: np.ndarray, rng: np.random.Generator, out_w: int, out_h: int,
                zoom: tuple[float, float] = (1.2, 4.5)) -> tuple[np.ndarray, np.ndarray]:
    """A zoomed window: `zoom` is relative to the full-frame letterbox scale (so 3 = objects 3x larger),
    centred on a random object most of the time (motion crops are centred on something)."""
    H, W = img.shape[:2]
    base = 320 / max(H, W)  # full-frame letterbox scale
    z = float(np.exp(rng.uniform(np.log(zoom[0]), np.log(zoom[1]))))
    side = out_h / (base * z)
    if len(boxes) and rng.random() < 0.75:
        b = boxes[rng.integers(len(boxes))]
        cx = rng.uniform(b[1], b[3]) + rng.normal(0, side * out_w / out_h * 0.15)
        cy = rng.uniform(b[2], b[4]) + rng.normal(0, side * 0.15)
    else:
        cx, cy = rng.uniform(0, W), rng.uniform(0, H)
    return crop_resize(img, boxes, cx, cy, side, out_w, out_h)


def make_sample(img: np.ndarray, boxes: np.ndarray, rng: np.random.Generator, other=None,
                size: int = 320, p_full: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """One 320x320 training input (BGR) and its boxes [n,5] (cls, x1, y1, x2, y2 in input pixels).
    `other()` returns another (img, boxes) to fill a letterbox's padding band with a zoomed crop."""
    if rng.random() < 0.5:
        img, boxes = hflip(img, boxes)
    if rng.random() < p_full:  # full frame at (about) the runtime letterbox scale
        H, W = img.shape[:2]
        s = size / max(H, W) * (rng.uniform(0.85, 1.15) if rng.random() < 0.5 else 1.0)
        nw, nh = min(int(round(W * s)), size), min(int(round(H * s)), size)
        frame = cv2.resize(img, (int(round(W * s)), int(round(H * s))), interpolation=cv2.INTER_LINEAR)
        fx = int(rng.integers(0, frame.shape[1] - nw + 1))
        fy = int(rng.integers(0, frame.shape[0] - nh + 1))
        frame = frame[fy: fy + nh, fx: fx + nw]
        fb = warp_boxes(boxes, s, -fx, -fy, nw, nh)
        out = np.full((size, size, 3), PAD, np.uint8)
        ox = (size - nw) // 2 if rng.random() < 0.5 else int(rng.integers(0, size - nw + 1))
        oy = (size - nh) // 2 if rng.random() < 0.5 else int(rng.integers(0, size - nh + 1))
        out[oy: oy + nh, ox: ox + nw] = frame
        parts = [warp_boxes(fb, 1.0, ox, oy, size, size)]
        if other is not None and rng.random() < 0.5 and (oy >= 48 or size - oy - nh >= 48):
            for y0, y1 in ((0, oy), (oy + nh, size)):  # fill the bands above/below with zoomed crops
                if y1 - y0 >= 48:
                    oimg, oboxes = other()
                    band, bb = random_crop(oimg, oboxes, rng, size, y1 - y0, zoom=(1.0, 3.0))
                    out[y0:y1] = band
                    parts.append(warp_boxes(bb, 1.0, 0, y0, size, size))
        boxes = np.concatenate(parts)
    else:
        out, boxes = random_crop(img, boxes, rng, size, size)
    return photometric(out, rng), boxes
