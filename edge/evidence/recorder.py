"""The evidence recorder: one bundle per alert, cut and sealed without stalling the node.

At the alert it opens the bundle, saves the best snapshot seen so far and starts collecting the
clip from the pre-roll buffer (from `preroll_s` before the violation began, as far back as the
buffer reaches).  When the violation clears it takes the "after" snapshot and, `postroll_s` after
the objects were last seen, a worker thread muxes the clip, signs and chains the manifest, and only
then releases the `cleared` message carrying the manifest's hash.  A violation longer than
`max_clip_s` is sealed when its clip reaches that length.  When the disk quota is full of bundles
that may not be deleted, clips stop and snapshots go on (degraded); below SNAPSHOT_FLOOR_BYTES free,
snapshots stop too and a bundle is its signed, chained manifest alone (the store's reserve keeps
room for it).  Degraded mode has hysteresis: it is entered at once and left only after
DEGRADED_MIN_S and with LEAVE_MARGIN_BYTES more free than the floor, so it does not flap at 0 bytes.
A bundle is logged sealed only once it is, and never reported open afterwards: trouble after the
seal (retention, queueing the upload) is reported as such.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from ..config.evidence import EvidenceConfig
from .buffer import EncodedFrame, PrerollBuffer
from .clip import write_clip
from .files import remove_partials, write_atomic
from .manifest import file_entry
from .snapshot import annotate, jpeg
from .store import EvidenceStore

log = logging.getLogger("edge.evidence")

Deliver = Callable[[dict], None]


@dataclass
class Shot:
    image: np.ndarray
    wall: float
    objects: list[dict]
    score: float = 0.0


@dataclass
class Job:
    id: str
    facts: dict
    clip_from: float
    clip_limit: float
    clip_until: float | None = None
    frames: list[EncodedFrame] = field(default_factory=list)
    collecting: bool = False
    queued: bool = False
    sealed_sha: str | None = None
    best: Shot | None = None
    after: Shot | None = None
    before: Shot | None = None  # camera_tamper: the last healthy view
    pending: list[dict] = field(default_factory=list)  # lifecycle messages to release once sealed
    lock: threading.Lock = field(default_factory=threading.Lock)
    listener: Callable[[EncodedFrame], None] | None = None
    degraded: bool = False  # storage was full at the alert: snapshots only


class EvidenceRecorder:
    def __init__(self, config: EvidenceConfig, store: EvidenceStore, key, buffer: PrerollBuffer, *, node: str,
                 tz: ZoneInfo, deliver: Deliver, context: dict | None = None,
                 on_sealed: Callable[[str, str], None] | None = None, encoder=None):
        self.config = config
        self.store = store
        self.key = key
        self.buffer = buffer
        self.node = node
        self.tz = tz
        self.deliver = deliver
        self.context = context or {}  # model and configuration hashes for the manifest
        self.on_sealed = on_sealed
        self.encoder = encoder  # stopped by shutdown()
        self._closed = False
        self._storage_checked = 0.0  # monotonic time of the last look for room while degraded
        self.jobs: dict[str, Job] = {}
        self._best: dict[str, Shot] = {}
        self._work: queue.Queue = queue.Queue()  # Job, RECHECK, or None to stop
        self._worker = threading.Thread(target=self._run, name="evidence-writer", daemon=True)
        self._degraded = False
        self._degraded_since = 0.0
        self.degraded_changes = 0  # how often the flag changed (a flapping flag is a bug)
        self.degraded = store.enforce(config.max_bytes, config.min_free_bytes)
        self.sealed = 0
        self._worker.start()

    # --- degraded mode, with hysteresis ---------------------------------------------------------
    @property
    def degraded(self) -> bool:
        return self._degraded

    @degraded.setter
    def degraded(self, value: bool) -> None:
        """True: degraded now.  False: only if it lasted DEGRADED_MIN_S and the disk has room again
        with a margin; otherwise the flag stays (a disk at 0 bytes free would flip it every write)."""
        if value == self._degraded:
            return
        if not value:
            if time.monotonic() - self._degraded_since < DEGRADED_MIN_S:
                return
            free = self.store.free_bytes()
            if free is None or free < self.config.min_free_bytes + LEAVE_MARGIN_BYTES:
                return
        else:
            self._degraded_since = time.monotonic()
        self._degraded = value
        self.degraded_changes += 1

    # --- node thread --------------------------------------------------------------------------
    def observe(self, image: np.ndarray, wall: float, mono: float, violations) -> None:
        """Keep, for every open violation, the frame where it was seen most clearly."""
        live = set()
        for v in violations:
            live.add(v.id)
            if v.last_mono != mono or not v.objects:
                continue
            score = float(np.mean([o["score"] for o in v.objects]))
            best = self._best.get(v.id)
            if best is None or score > best.score:
                self._best[v.id] = Shot(image.copy(), wall, [dict(o) for o in v.objects], score)
        for vid in [k for k in self._best if k not in live and k not in self.jobs]:
            del self._best[vid]

    def on_alert(self, violation, message: dict, image: np.ndarray, wall: float) -> None:
        """The violation became an alert: open its bundle; the message gets the snapshot reference."""
        facts = {
            "node": self.node, "violation": violation.id, "rule": violation.rule.name, "kind": violation.kind,
            "zone": violation.zone, "started_at": message["started_at"], "warned_at": message["warned_at"],
            "confirmed_at": message["confirmed_at"], "location": message.get("location"), **self.context,
        }
        self.store.open(violation.id, facts)
        job = Job(violation.id, facts, clip_from=violation.started_mono - self.config.preroll_s,
                  clip_limit=violation.started_mono - self.config.preroll_s + self.config.max_clip_s)
        job.best = self._best.get(violation.id) or Shot(image.copy(), wall, [dict(o) for o in violation.objects])
        if getattr(violation, "before", None) is not None:  # camera_tamper: what the camera saw before
            job.before = Shot(violation.before, violation.started_wall, [])
        self.jobs[violation.id] = job
        message["snapshot"] = f"{violation.id}/snapshot_best.jpg"
        if self.store.opened_on_reserve:  # the disk is full: sign the facts now, while there is room
            self.degraded = job.degraded = True
            job.best = None
            job.facts["note"] = "sealed at the alert with no media: the disk was full"
            with job.lock:
                self._queue_locked(job)
            return
        if self.degraded:
            log.warning("evidence: storage full of bundles it may not delete; %s keeps snapshots only", violation.id)
            job.degraded = True
            return
        job.listener = lambda frame: self._collect(job, frame)
        held = self.buffer.subscribe(job.listener)
        job.collecting = True
        start = 0
        for i, frame in enumerate(held):
            if frame.mono > job.clip_from:
                break
            if frame.keyframe:
                start = i
        with job.lock:
            job.frames = held[start:]

    def on_cleared(self, violation, message: dict, image: np.ndarray, wall: float, mono: float) -> bool:
        """The violation cleared: take the after shot; the message leaves once the bundle is sealed.

        Returns False when this violation has no bundle (the caller delivers the message itself).
        """
        job = self.jobs.get(violation.id)
        if job is None:
            return False
        with job.lock:
            if job.queued and job.sealed_sha is None:  # being sealed early (a full disk): wait for it
                job.pending.append(message)
                return True
            if job.sealed_sha is not None:  # sealed earlier, at the clip's maximum length
                message["evidence"] = job.sealed_sha
                message["snapshot"] = f"{job.id}/snapshot_best.jpg"
                self.jobs.pop(job.id, None)
                self.deliver(message)
                return True
            job.after = Shot(image.copy(), wall, [])
            job.facts["ended_at"] = message.get("ended_at")
            job.clip_until = violation.last_mono + self.config.postroll_s
            job.pending.append(message)
        self.tick(mono)
        return True

    def tick(self, now_mono: float | None = None) -> None:
        """Seal bundles whose clip is complete: past its end, or with nothing more to wait for."""
        if self.degraded and time.monotonic() - self._storage_checked >= STORAGE_RECHECK_S:
            # Has room come back (the disk was freed, bundles were verified)?  Without this look the
            # flag would only clear at the next seal, and the next alert would lose its clip for nothing.
            # The writer thread looks, so that the disk is never scanned on the node's thread.
            self._storage_checked = time.monotonic()
            self._work.put(RECHECK)
        for job in list(self.jobs.values()):
            with job.lock:
                if job.queued or job.sealed_sha is not None:
                    continue
                if not job.collecting and job.clip_until is not None:
                    ready = True
                elif job.clip_until is not None:
                    last = job.frames[-1].mono if job.frames else None
                    ready = (last is not None and last >= job.clip_until) or (
                        now_mono is not None and now_mono >= job.clip_until)
                elif now_mono is not None and now_mono >= job.clip_limit:
                    job.facts["note"] = f"sealed after {self.config.max_clip_s:g} s; the violation went on"
                    ready = True
                else:
                    ready = False
                if ready:
                    self._queue_locked(job)

    def close(self) -> None:
        """At shutdown: seal every open bundle with what it has, and wait for the writer."""
        if self._closed:
            return
        self._closed = True
        for job in list(self.jobs.values()):
            with job.lock:
                if not job.queued and job.sealed_sha is None:
                    job.facts.setdefault("ended_at", None)
                    job.facts["note"] = "the node stopped while the violation was still going"
                    self._queue_locked(job)
        self._work.put(None)
        self._worker.join(120)

    def shutdown(self) -> None:
        """close(), stop the encoder, release the store (after the source has stopped)."""
        self.close()
        if self.encoder is not None:
            self.encoder.stop()
        self.store.close()

    # --- encoder thread ----------------------------------------------------------------------------
    def _collect(self, job: Job, frame: EncodedFrame) -> None:
        with job.lock:
            if job.queued:
                return
            if frame.mono > job.clip_limit:  # the clip reached its maximum length: seal it now
                job.facts["note"] = f"clip capped at {self.config.max_clip_s:g} s; the violation went on"
                self._queue_locked(job)
                return
            job.frames.append(frame)
            if job.clip_until is not None and frame.mono >= job.clip_until:
                self._queue_locked(job)

    def _queue_locked(self, job: Job) -> None:
        if job.queued:
            return
        job.queued = True
        if job.collecting:
            job.collecting = False
            # Safe under job.lock: the buffer calls listeners after releasing its own lock.
            self.buffer.unsubscribe(job.listener)
        self._work.put(job)

    # --- writer thread ----------------------------------------------------------------------------
    def _seal_making_room(self, job: Job, folder: Path, files: list[dict], notes: list[str], incomplete: bool) -> str:
        """Seal; if the disk cannot take even the manifest, give up this bundle's own files one by one.

        A sealed bundle with fewer files beats an open one: the alert's facts stay signed and chained.
        """
        dropped: list[str] = []
        while True:
            try:
                return self.store.seal(job.id, job.facts, files, self.key, incomplete=incomplete or bool(dropped),
                                       degraded=job.degraded, notes=notes + (
                                           [f"disk full at sealing: {', '.join(dropped)} deleted to make room"]
                                           if dropped else []))
            except OSError as exc:
                remove_partials(folder)
                victim = next((name for name in SACRIFICE if (folder / name).exists()), None)
                if victim is None:
                    raise
                log.error("evidence: cannot seal bundle %s (%s); deleting its %s to make room", job.id,
                          exc.strerror or exc, victim)
                (folder / victim).unlink()
                dropped.append(victim)
                files[:] = [f for f in files if f["name"] != victim]
                job.degraded = self.degraded = True

    def _run(self) -> None:
        while True:
            job = self._work.get()
            if job is None:
                return
            if job is RECHECK:
                try:
                    if self.degraded:
                        self.degraded = self.store.enforce(self.config.max_bytes, self.config.min_free_bytes)
                except Exception:  # never let a look at the disk stop the writer
                    log.exception("evidence: checking for room failed")
                continue
            try:
                self._seal(job)
            except Exception:
                if job.sealed_sha is not None:
                    log.exception("evidence: bundle %s was sealed; handing it on failed", job.id)
                    continue
                log.exception("evidence: sealing bundle %s failed; it stays open and is recovered at the next start",
                              job.id)
                with job.lock:
                    pending, job.pending = job.pending, []
                for message in pending:
                    self.deliver(message)

    def _write_shot(self, folder: Path, name: str, shot: Shot, label: str, facts: dict, files: list[dict]) -> None:
        """The clean frame as captured, and an annotated copy."""
        q = self.config.jpeg_quality
        taken = _iso(shot.wall, self.tz)
        write_atomic(folder / f"{name}.jpg", jpeg(shot.image, q))
        files.append(file_entry(folder, f"{name}.jpg", "snapshot", taken_at=taken, annotated=False))
        marked = annotate(shot.image, wall=shot.wall, tz=self.tz, node=self.node, zone=facts["zone"],
                          rule=facts["rule"], objects=shot.objects, label=label)
        write_atomic(folder / f"{name}_annotated.jpg", jpeg(marked, q))
        files.append(file_entry(folder, f"{name}_annotated.jpg", "snapshot", taken_at=taken, annotated=True))

    def _seal(self, job: Job) -> None:
        folder = self.store.folder(job.id)
        files: list[dict] = []
        notes: list[str] = []
        incomplete = False
        with job.lock:
            frames = list(job.frames)
            job.frames = []
        free = self.store.free_bytes()
        if self.degraded and free is not None and free < SNAPSHOT_FLOOR_BYTES:
            job.best = job.after = None  # what can wait: the manifest alone keeps the facts signed
            notes.append(f"no snapshots: {free} bytes free on the evidence disk")
        try:
            if job.best is not None:
                self._write_shot(folder, "snapshot_best", job.best, "violation", job.facts, files)
            if job.after is not None:
                self._write_shot(folder, "snapshot_after", job.after, "after it cleared", job.facts, files)
            if job.before is not None:
                self._write_shot(folder, "snapshot_before", job.before, "before the camera was tampered with",
                                 job.facts, files)
            if frames and self.buffer.size:
                info = write_clip(folder / "clip.mp4", frames, self.buffer.size, self.buffer.fps)
                files.append(file_entry(folder, "clip.mp4", "clip", frames=info.frames,
                                        start=_iso(info.start_wall, self.tz), end=_iso(info.end_wall, self.tz),
                                        duration_s=round(info.duration_s, 3)))
            elif job.degraded:
                notes.append("no clip: evidence storage was full of bundles that may not be deleted")
            else:
                notes.append("no clip: the pre-roll buffer held no video for this violation")
        except OSError as exc:  # the disk filled up, or failed: keep what was written
            removed = remove_partials(folder)
            incomplete = True
            notes.append(f"writing stopped: {exc.strerror or exc}" + (f" ({', '.join(removed)} removed)" if removed else ""))
            log.error("evidence: writing bundle %s failed: %s; sealing what was written", job.id, exc)
            job.degraded = self.degraded = True
        if job.facts.get("note"):
            notes.append(job.facts.pop("note"))
        sha = self._seal_making_room(job, folder, files, notes, incomplete)
        self.sealed += 1
        job.sealed_sha = sha  # from here on the bundle is sealed, whatever fails next
        log.info("evidence: bundle %s sealed (%d files, manifest %s...)", job.id, len(files), sha[:12])
        with job.lock:
            job.sealed_sha = sha
            job.best = job.after = job.before = None
            pending, job.pending = job.pending, []
            if pending:  # cleared already: nothing more will come for this bundle
                self.jobs.pop(job.id, None)
        for message in pending:
            message["evidence"] = sha
            message["snapshot"] = f"{job.id}/snapshot_best.jpg" if any(
                f["name"] == "snapshot_best.jpg" for f in files) else None
            self.deliver(message)
        try:
            self.degraded = self.store.enforce(self.config.max_bytes, self.config.min_free_bytes)
            if self.on_sealed is not None:
                self.on_sealed(job.id, sha)
        except Exception as exc:  # sealed all the same: the next start queues it for upload again
            log.error("evidence: bundle %s is sealed, but %s failed after it: %s", job.id,
                      "queueing its upload" if self.on_sealed else "retention", exc)


# While degraded, look for room again this often (seconds), on the writer thread.
STORAGE_RECHECK_S = 5.0
# Degraded mode lasts at least this long, and ends only with this much more free than the floor.
DEGRADED_MIN_S = 30.0
LEAVE_MARGIN_BYTES = 1024 * 1024
# Below this much free on the evidence disk a degraded bundle keeps no snapshots: its manifest only.
SNAPSHOT_FLOOR_BYTES = 1024 * 1024
RECHECK = object()

# What a bundle gives up, in this order, when the disk is too full even for its manifest.
SACRIFICE = ("clip.mp4", "snapshot_after_annotated.jpg", "snapshot_best_annotated.jpg", "snapshot_after.jpg",
             "snapshot_best.jpg")


def _iso(wall: float, tz: ZoneInfo) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(wall, tz).isoformat(timespec="milliseconds")
