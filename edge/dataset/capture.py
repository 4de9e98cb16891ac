"""[dataset] capture: keep the frames a person should label, under a quota evidence always wins over.

Kept: a few frames from each warning and alert on (the violation's id goes with them, so frames of a
case the dispatcher dismissed as "wrong object" become hard negatives), frames with a detection just
above the score threshold, frames where the number of objects flickered between two looks, and a
small random sample of quiet frames in each lighting (day, dusk, night by the picture's brightness).

Each kept frame is DIR/frames/<ms>-<reason>.jpg plus a .json beside it (node, site, time, size,
lighting, reason, the model that ran, its detections as pre-labels, the violations open).  The
per-frame check is a few comparisons; only a kept frame costs a JPEG encode.
"""

from __future__ import annotations

import json
import logging
import os
import random
from pathlib import Path

import cv2
import numpy as np

from ..util import write_atomic

log = logging.getLogger("edge.dataset")


def replace_json(path: Path, data: dict) -> None:
    """Write a sidecar as a new file (packs hold hard links to the old one: it must not change)."""
    write_atomic(path, json.dumps(data, separators=(",", ":")), sync=False)  # a lost label costs nothing


def lighting_of(image: np.ndarray) -> str:
    """day / dusk / night from the mean brightness of a sparse grid of pixels (microseconds)."""
    level = float(image[::16, ::16].mean())
    return "day" if level >= 90 else "dusk" if level >= 45 else "night"


class DatasetCapture:
    def __init__(self, profile, state_dir: Path, *, evidence=None, model_info=None):
        self.cfg = profile.dataset
        self.node, self.site = profile.node.id, profile.node.site
        self.threshold = profile.detect.score_threshold
        self.evidence = evidence  # EvidenceRecorder or None: it wins every byte
        self.evidence_cfg = profile.evidence
        self.model_info = model_info or dict  # () -> {"name", "version", "sha256"}
        self.folder = state_dir / "dataset" / "frames"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.rng = random.Random(self.cfg.seed)
        self.frames: list[tuple[Path, int]] = []  # (jpeg path, bytes of jpeg + json), oldest first
        for p in sorted(self.folder.glob("*.jpg")):
            side = p.with_suffix(".json")
            if side.exists():
                self.frames.append((p, p.stat().st_size + side.stat().st_size))
            else:
                p.unlink(missing_ok=True)  # a frame whose labels never landed (a crash between the two)
        for part in self.folder.glob("*.part"):
            part.unlink(missing_ok=True)
        self.bytes = sum(n for _, n in self.frames)
        self._event_due: list[tuple[float, str, int]] = []  # (mono due, violation id, frames left)
        self._last_kept = -1e9
        self._last_count: int | None = None
        self._last_look = -1e9
        self._quiet_next: dict[str, float] = {}
        self.kept = 0
        self.skipped_for_evidence = 0

    # --- the per-frame check -------------------------------------------------------------------
    def observe(self, frame, detections, events, open_violations=()) -> str | None:
        """Decide whether this frame is kept; returns the reason when it is."""
        now = frame.mono
        for event in events:
            if event.stage in ("warning", "alert") and self.cfg.event_frames:
                self._event_due.append((now, event.message["id"], self.cfg.event_frames))
        reason, violations = None, list(open_violations)
        if self._event_due and self._event_due[0][0] <= now:
            due, vid, left = self._event_due.pop(0)
            if left > 1:
                self._event_due.append((now + self.cfg.event_interval_s, vid, left - 1))
                self._event_due.sort()
            reason = "event"
            violations = sorted(set(violations) | {vid})
        looked = detections is not None and detections.coverage != ()
        if reason is None and looked and now - self._last_kept >= self.cfg.min_interval_s:
            scores = detections.scores
            count = int((scores >= self.threshold).sum())
            if len(scores) and bool(((scores >= self.threshold) & (scores < self.threshold + self.cfg.near_threshold)).any()):
                reason = "near_threshold"
            elif self._last_count is not None and count != self._last_count and now - self._last_look < 1.5:
                reason = "flicker"
            elif self.cfg.quiet_per_hour and count == 0:
                light = lighting_of(frame.image)
                due = self._quiet_next.setdefault(light, now + self.rng.expovariate(self.cfg.quiet_per_hour / 3600))
                if now >= due:
                    self._quiet_next[light] = now + self.rng.expovariate(self.cfg.quiet_per_hour / 3600)
                    reason = "quiet"
        if looked:
            self._last_count = int((detections.scores >= self.threshold).sum())
            self._last_look = now
        if reason is None:
            return None
        if reason != "event":
            self._last_kept = now
        return reason if self._keep(frame, detections, reason, violations) else None

    # --- writing -------------------------------------------------------------------------------
    def _room_for(self, size: int) -> bool:
        """Evidence wins: no frame while evidence is degraded, and never into the room evidence may claim."""
        if self.evidence is not None and self.evidence.degraded:
            self._shed(self.bytes)  # give every byte back
            return False
        try:
            st = os.statvfs(self.folder)
        except OSError:
            return False
        free = st.f_bavail * st.f_frsize
        reserve = self.evidence_cfg.min_free_bytes
        if self.evidence is not None:
            reserve += max(0, self.evidence_cfg.max_bytes - self.evidence.store.used_bytes())
        if free - size < reserve:
            self._shed(size)
            free = os.statvfs(self.folder).f_bavail * os.statvfs(self.folder).f_frsize
            if free - size < reserve:
                return False
        while self.frames and (self.bytes + size > self.cfg.max_bytes or len(self.frames) >= self.cfg.max_frames):
            self._drop_oldest()
        return size <= self.cfg.max_bytes

    def _drop_oldest(self) -> None:
        path, n = self.frames.pop(0)
        path.unlink(missing_ok=True)
        path.with_suffix(".json").unlink(missing_ok=True)
        self.bytes -= n

    def _shed(self, size: int) -> None:
        freed = 0
        while self.frames and freed < size:
            freed += self.frames[0][1]
            self._drop_oldest()

    def _keep(self, frame, detections, reason: str, violations: list[str]) -> bool:
        ok, data = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, self.cfg.jpeg_quality])
        if not ok:
            return False
        objects = []
        if detections is not None:
            for box, score, name in zip(detections.boxes.tolist(), detections.scores.tolist(), detections.names,
                                        strict=True):
                objects.append({"class": name, "box": [round(v, 1) for v in box], "score": round(score, 3)})
        h, w = frame.image.shape[:2]
        stem = f"{int(frame.wall * 1000):013d}-{reason}"
        side = {"node": self.node, "site": self.site, "wall": frame.wall, "size": [w, h], "reason": reason,
                "lighting": lighting_of(frame.image), "model": self.model_info(), "objects": objects,
                "looked": detections is not None and detections.coverage != (), "violations": violations}
        text = json.dumps(side, separators=(",", ":")).encode()
        size = len(data) + len(text)
        if not self._room_for(size):
            self.skipped_for_evidence += 1
            return False
        jpg = self.folder / f"{stem}.jpg"
        try:
            for target, body in ((jpg, data.tobytes()), (jpg.with_suffix(".json"), text)):
                tmp = target.with_name(target.name + ".part")
                with open(tmp, "wb") as f:
                    f.write(body)
                os.replace(tmp, target)  # no fsync: a lost frame costs nothing, evidence's fsyncs matter more
        except OSError as exc:  # a full disk: the frame goes, the node goes on
            log.warning("dataset: frame not kept: %s", exc)
            jpg.unlink(missing_ok=True)
            return False
        self.frames.append((jpg, size))
        self.bytes += size
        self.kept += 1
        return True

    def mark_hard_negatives(self, violation_ids: set[str]) -> int:
        """Frames of cases a dispatcher dismissed as 'wrong object': their pre-labels are the mistake."""
        marked = 0
        for jpg, _ in self.frames:
            side_p = jpg.with_suffix(".json")
            side = json.loads(side_p.read_text())
            if set(side.get("violations", [])) & violation_ids and not side.get("hard_negative"):
                side["hard_negative"] = True
                replace_json(side_p, side)
                marked += 1
        return marked

    def stats(self) -> dict:
        return {"dataset_frames": len(self.frames), "dataset_bytes": self.bytes}
