"""Camera tamper: the picture itself says the camera can no longer watch its zones.

A rule of kind `camera_tamper` looks at the frames, not at tracks.  `TamperWatch` learns the
camera's normal view over its first `LEARN_S` seconds (a small grey thumbnail, its contrast and its
sharpness) and then compares every frame with it:

- signal_lost: the picture is frozen (identical frames) or one flat colour (a "no signal" screen);
- covered: almost no contrast left (a hand, a bag or paint over the lens), far below the normal view;
- defocused: the contrast is there but the detail is gone (lens turned, fogged, smeared);
- moved: sharp and bright enough, but it no longer lines up with the normal view (knocked aside).

The measures are on a thumbnail (sensor noise averages out) and relative to the learned view, so
night IR, dusk and a passing cloud are not tampering; the reference follows slow changes (dusk
falling) while the view is healthy.  Whatever the condition, it must last the rule's dwell_s before
it is an alert; there is no loudspeaker warning (nobody to warn).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

LEARN_S = 5.0  # seconds of normal view before anything is judged
THUMB_W = 96  # thumbnail width for brightness, contrast and alignment (the layout, not the details)
DETAIL_W = 320  # width at which detail (sharpness) is measured
FOLLOW = 0.02  # per-frame weight of a healthy frame in the reference
COVERED_CONTRAST = 0.3  # covered: contrast below this share of the normal view's ...
COVERED_STD = 6.0  # ... and below this absolute grey level spread (0..255)
DEFOCUS_DETAIL = 0.4  # defocused: detail below this share of the normal view's
MOVED_SHIFT = 0.04  # moved: the view shifted by more than this share of the width ...
MOVED_SIMILARITY = 0.8  # ... or its layout correlates less than this with the normal view
FLAT_STD = 0.25  # signal lost: a flat picture (a "no signal" screen; a covered lens still has sensor noise)


@dataclass
class Health:
    """One frame's measures against the reference (for logs and tests)."""

    contrast: float  # grey std relative to the reference
    detail: float  # sharpness relative to the reference
    shift: float  # in widths
    similarity: float  # structure correlation with the reference, -1..1
    condition: str | None


def _grey(image: np.ndarray, width: int, blur: float = 0.0) -> np.ndarray:
    h, w = image.shape[:2]
    small = cv2.resize(image, (width, max(2, round(h * width / w))), interpolation=cv2.INTER_AREA)
    if small.ndim == 3:
        small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    small = small.astype(np.float32)
    return cv2.GaussianBlur(small, (0, 0), blur) if blur else small


def _detail(grey: np.ndarray) -> float:
    return float(np.mean(np.abs(cv2.Laplacian(cv2.GaussianBlur(grey, (3, 3), 0), cv2.CV_32F))))


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two thumbnails: 1 for the same layout whatever the exposure."""
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else 0.0


class TamperWatch:
    def __init__(self) -> None:
        self._ref: np.ndarray | None = None  # thumbnail of the normal view
        self._ref_std = 0.0
        self._ref_detail = 0.0
        self._since: float | None = None
        self._last: np.ndarray | None = None
        self._frozen = 0
        self._window: np.ndarray | None = None
        self.before: np.ndarray | None = None  # the latest healthy full frame (the "before" snapshot)
        self.health: Health | None = None

    def observe(self, image: np.ndarray, mono: float) -> str | None:
        """The tamper condition this frame shows, or None (also while still learning)."""
        thumb = _grey(image, THUMB_W, blur=1.5)
        fine = _grey(image, DETAIL_W)
        detail = _detail(fine)
        flat = float(fine.std()) < FLAT_STD
        std = float(thumb.std())
        frozen = self._last is not None and self._last.shape == thumb.shape and np.array_equal(self._last, thumb)
        self._frozen = self._frozen + 1 if frozen else 0
        self._last = thumb
        if self._ref is None or self._ref.shape != thumb.shape:
            self._ref, self._ref_std, self._ref_detail, self._since = thumb, std, detail, mono
            self._window = cv2.createHanningWindow(thumb.shape[::-1], cv2.CV_32F)
            return None
        learning = mono - self._since < LEARN_S
        contrast = std / max(self._ref_std, 1e-6)
        rel_detail = detail / max(self._ref_detail, 1e-6)
        (dx, dy), _ = cv2.phaseCorrelate(self._ref.copy(), thumb.copy(), self._window)  # it may write into them
        shift = float(np.hypot(dx, dy)) / thumb.shape[1]
        similarity = _similarity(self._ref, thumb)
        condition = None
        if flat or self._frozen >= 2:
            condition = "signal_lost"
        elif not learning and contrast < COVERED_CONTRAST and std < max(COVERED_STD, COVERED_CONTRAST * self._ref_std):
            condition = "covered"
        elif not learning and rel_detail < DEFOCUS_DETAIL:
            condition = "defocused"
        elif not learning and (shift > MOVED_SHIFT or similarity < MOVED_SIMILARITY):
            condition = "moved"
        self.health = Health(round(contrast, 3), round(rel_detail, 3), round(shift, 4), round(similarity, 3), condition)
        if condition is None:
            w = 0.2 if learning else FOLLOW
            self._ref = (1 - w) * self._ref + w * thumb
            self._ref_std = (1 - w) * self._ref_std + w * std
            self._ref_detail = (1 - w) * self._ref_detail + w * detail
            self.before = image
        return condition
