"""Multi-object tracker, ByteTrack-style: confident detections first, then weak ones for known tracks.

Stable ids across short occlusions and missed detections: a track that goes unseen is kept for
`max_lost_s` and picked up again where its motion model says it should be.  A track that the
motion gate did not look at is not "missed" (nobody looked), so objects that stand still keep
their ids between re-checks.  Each track knows whether it is stationary.

Two kinds of look are not equal evidence of absence (docs/rules.md, "Track keeping"):

- a zoomed crop can under-score what the whole frame finds (a dark boat at night, a stall being set
  up): a crop look that misses a track whose latest hit came from a whole-frame look does not count
  as a miss; the next whole-frame look decides (the gate makes one every `recheck_s`);
- a stationary object hidden behind a track in front of it (a truck stopping before a parked car)
  is not missing: it is kept for up to `occlusion_hold_s` while it stays covered.

Weak detections (low_score..high_score) keep any existing track alive, tentative or lost, where they
overlap it; they never start one.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ..detect.detections import Detections
from .kalman import BoxKalman, warp_point

STEADY_SHARE = 0.75  # of a stationary track's recent centres must be near their median
SPARSE_S = 1.0  # a track last seen this long ago is matched by closeness, not by its predicted box


@dataclass(frozen=True)
class TrackerConfig:
    high_score: float = 0.45  # detections that may start a track or match first
    low_score: float = 0.15  # weaker detections only keep existing tracks alive
    match_iou: float = 0.25  # IoU a confident detection needs with a predicted box
    low_match_iou: float = 0.4  # ... and a weak one
    confirm_hits: int = 2  # hits before a new track is reported
    max_lost_s: float = 4.0  # forget a track unseen this long (while the detector was looking)
    occlusion_hold_s: float = 120.0  # keep a stationary track hidden behind a nearer one this long
    stationary_window_s: float = 4.0  # how long a track must hold still to be stationary
    stationary_tolerance: float = 0.2  # in box sizes: how far its centre may wander meanwhile


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def centre_closeness(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 - centre distance / box size: positive when the centres are less than a box size apart."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    ca = (a[:, :2] + a[:, 2:]) / 2
    cb = (b[:, :2] + b[:, 2:]) / 2
    size = np.maximum((a[:, 2:] - a[:, :2]).max(1)[:, None], (b[:, 2:] - b[:, :2]).max(1)[None, :])
    dist = np.linalg.norm(ca[:, None, :] - cb[None, :, :], axis=2)
    return 1.0 - dist / np.maximum(size, 1e-9)


def greedy_match(score: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Pairs (row, col) by descending score above threshold, each row and column used once."""
    pairs = []
    if score.size == 0:
        return pairs
    rows, cols = np.nonzero(score >= threshold)
    order = np.argsort(-score[rows, cols], kind="stable")
    used_r, used_c = set(), set()
    for k in order:
        r, c = int(rows[k]), int(cols[k])
        if r not in used_r and c not in used_c:
            pairs.append((r, c))
            used_r.add(r)
            used_c.add(c)
    return pairs


@dataclass(eq=False)
class Track:
    id: int
    cls: str
    score: float
    first_seen: float
    last_seen: float
    hits: int = 1
    missed_since: float | None = None  # when the detector first looked and did not find it
    missed_looks: int = 0  # how many times since then it looked and did not find it
    kalman: BoxKalman | None = None
    centres: deque = field(default_factory=lambda: deque(maxlen=200))
    last_hits: deque = field(default_factory=lambda: deque(maxlen=3))  # the last sightings (same items)
    stationary: bool = False
    still_since: float | None = None  # start of the current stationary spell
    last_box: np.ndarray | None = None  # the latest matched detection
    last_hit_full: bool = False  # the latest hit came from a whole-frame look (crops may under-score it)
    hidden: bool = False  # missed while covered by a nearer track in this frame (occlusion)

    @property
    def box(self) -> tuple[float, float, float, float]:
        return tuple(float(v) for v in self.kalman.box)  # type: ignore[union-attr]

    @property
    def visible(self) -> bool:
        return self.missed_since is None

    def age(self, now: float) -> float:
        return now - self.first_seen


class Tracker:
    def __init__(self, config: TrackerConfig | None = None):
        self.config = config or TrackerConfig()
        self.tracks: list[Track] = []
        self._ids = itertools.count(1)
        self._last_time: float | None = None

    def update(self, detections: Detections, now: float, warp: np.ndarray | None = None) -> list[Track]:
        """Fold one frame's detections in; return the confirmed tracks.

        `warp`: for a moving camera, the homography from the previous frame's pixels to this one's
        (edge.geo.frame_to_frame); tracks move with it before they are predicted and matched."""
        cfg = self.config
        dt = 0.0 if self._last_time is None else max(0.0, now - self._last_time)
        self._last_time = now
        if warp is not None:
            self._warp(warp)
        for track in self.tracks:
            if track.stationary:  # it stands still: no drift while the detector looks elsewhere
                track.kalman.x[4:] = 0.0
            track.kalman.predict(dt)

        names = detections.names
        high = [i for i, s in enumerate(detections.scores) if s >= cfg.high_score]
        low = [i for i, s in enumerate(detections.scores) if cfg.low_score <= s < cfg.high_score]
        free = list(range(len(self.tracks)))
        matched: dict[int, int] = {}

        def associate(tracks: list[int], pool: list[int], score_fn, threshold: float) -> None:
            if not tracks or not pool:
                return
            score = score_fn(np.array([self.tracks[t].kalman.box for t in tracks]), detections.boxes[pool])
            same = np.array([[self.tracks[t].cls == names[d] for d in pool] for t in tracks])
            for r, c in greedy_match(np.where(same, score, -np.inf), threshold):
                matched[tracks[r]] = pool[c]
            free[:] = [t for t in free if t not in matched]
            pool[:] = [d for d in pool if d not in matched.values()]

        def confirmed(t: int) -> bool:
            return self.tracks[t].hits >= cfg.confirm_hits

        # 1. confident detections against every track, by overlap with where the track should be;
        associate(list(free), high, iou_matrix, cfg.match_iou)
        # 2. weak detections keep known tracks alive where they overlap them (a person half behind a
        #    tree, a boat a crop under-scores), and confirm a tentative one where it was just seen;
        associate(list(free), low, iou_matrix, cfg.low_match_iou)
        # 3. a track lost behind something, or only seen on sparse whole-frame looks, is picked up near
        #    where it was, even if it moved on;
        associate([t for t in free if (confirmed(t) and not self.tracks[t].visible)
                   or now - self.tracks[t].last_seen > SPARSE_S], high, centre_closeness, 0.2)
        # 4. ... and a lost stationary one by a weak detection close to where it stands.
        associate([t for t in free if self.tracks[t].stationary and not self.tracks[t].visible], low,
                  centre_closeness, 0.5)

        whole = detections.coverage is None
        for t, d in matched.items():
            self._hit(self.tracks[t], detections, d, now)
            self.tracks[t].last_hit_full = whole
        hit_now = [self.tracks[t] for t in matched]
        for t in free:  # missed only where the detector looked
            track = self.tracks[t]
            track.hidden = False
            if not detections.covers(track.box):
                continue
            if not whole and track.last_hit_full:
                continue  # a crop missed what the whole frame found: wait for the next whole look
            track.last_hit_full = False
            track.hidden = track.stationary and self._covered_by(track, hit_now)
            track.missed_looks += 1
            if track.missed_since is None:
                track.missed_since = now
        for d in high:  # confident detections nobody claimed start new tracks
            self._start(detections, d, now)

        self.tracks = [t for t in self.tracks if not self._expired(t, now)]
        for track in self.tracks:
            was = track.stationary
            track.stationary, since = self._is_stationary(track, now)
            if track.stationary and not was:  # it has held still for the whole window already
                track.still_since = max(track.first_seen, since)
            elif not track.stationary:
                track.still_since = None
        return self.confirmed()

    def _warp(self, h: np.ndarray) -> None:
        for track in self.tracks:
            track.kalman.warp(h)
            moved = deque(maxlen=track.centres.maxlen)
            for t, x, y, size in track.centres:  # the stationarity window, in this frame's pixels
                p = warp_point(h, x, y)
                if p is not None:
                    moved.append((t, p[0], p[1], size))
            track.centres = moved
            hits = deque(maxlen=track.last_hits.maxlen)
            for t, x, y, size in track.last_hits:
                p = warp_point(h, x, y)
                if p is not None:
                    hits.append((t, p[0], p[1], size))
            track.last_hits = hits

    def confirmed(self) -> list[Track]:
        return [t for t in self.tracks if t.hits >= self.config.confirm_hits]

    def _start(self, detections: Detections, d: int, now: float) -> None:
        box = detections.boxes[d].astype(np.float64)
        track = Track(next(self._ids), detections.classes[detections.class_ids[d]], float(detections.scores[d]),
                      now, now, kalman=BoxKalman(box), last_box=box, last_hit_full=detections.coverage is None)
        track.centres.append((now, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, max(box[2] - box[0], box[3] - box[1])))
        track.last_hits.append(track.centres[-1])
        self.tracks.append(track)

    def _hit(self, track: Track, detections: Detections, d: int, now: float) -> None:
        box = detections.boxes[d].astype(np.float64)
        track.kalman.update(box)
        track.hits += 1
        track.last_seen = now
        track.missed_since = None
        track.missed_looks = 0
        track.score = 0.7 * track.score + 0.3 * float(detections.scores[d])
        track.last_box = box
        track.centres.append((now, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, max(box[2] - box[0], box[3] - box[1])))
        track.last_hits.append(track.centres[-1])

    @staticmethod
    def _covered_by(track: Track, others: list[Track]) -> bool:
        """Whether a track seen in this frame covers most of `track` and stands nearer the camera
        (its box reaches lower in the picture): what is behind it cannot be seen, not gone."""
        x1, y1, x2, y2 = track.box
        area = max((x2 - x1) * (y2 - y1), 1e-9)
        for o in others:
            if o is track:
                continue
            a1, b1, a2, b2 = o.box
            w, h = min(x2, a2) - max(x1, a1), min(y2, b2) - max(y1, b1)
            if w > 0 and h > 0 and w * h / area >= 0.5 and b2 >= y2 - 0.1 * (y2 - y1):
                return True
        return False

    def _expired(self, track: Track, now: float) -> bool:
        if track.missed_since is None:
            return False
        if track.hits < self.config.confirm_hits:
            return True  # a tentative track that missed once was probably noise
        if track.hidden and now - track.missed_since < self.config.occlusion_hold_s:
            return False  # parked behind something that stopped in front of it
        # Gone only when looked for more than once, over max_lost_s: one unlucky look at a
        # stationary object between re-checks does not end it.
        return track.missed_looks >= 2 and now - track.missed_since >= self.config.max_lost_s

    def _is_stationary(self, track: Track, now: float) -> tuple[bool, float]:
        """Most of the window's centres near their median: a person or tree passing in front of a
        parked van (its box shrinks for a few frames) does not make it move."""
        cfg = self.config
        since = now - cfg.stationary_window_s
        if now - track.first_seen < cfg.stationary_window_s:
            return False, since
        recent = [c for c in track.centres if c[0] >= since]
        if len(recent) < 2:
            if track.stationary or len(track.last_hits) < 2:
                return track.stationary, since  # not looked at lately: it has not been seen moving either
            # Seen only on sparse looks (crops miss it): its last few sightings at one place say it stands.
            recent = list(track.last_hits)
            since = recent[0][0]
        xy = np.array([(c[1], c[2]) for c in recent])
        size = float(np.median([c[3] for c in recent]))
        off = np.abs(xy - np.median(xy, axis=0)).max(axis=1)
        return bool(np.mean(off <= cfg.stationary_tolerance * size / 2) >= STEADY_SHARE), since
