"""The node's model slots: which model runs, which one came before, and the rollout state machine.

State lives in <state_dir>/models/rollout.json (written atomically): the current and previous model
folders, whether the current one is still on probation after a switch, and how many times the node
started without a clean stop since then.  The heavy part of a rollout (download, second session,
self-test) runs on a worker thread; the switch itself happens in `tick()`, on the node's thread,
between two frames.
"""

from __future__ import annotations

import json
import logging
import queue
import shutil
import threading
import time
from collections import deque
from pathlib import Path

from ..detect.model import LABELS, MANIFEST, ModelError
from ..util import WriteTrouble, write_atomic
from .fetch import fetch
from .selftest import self_test
from .signature import SIGNATURE, RolloutError, verify_manifest

log = logging.getLogger("edge.rollout")


def make_detector(profile, folder: Path):
    from ..detect import Detector

    cfg = profile.detect
    return Detector(folder, classes=cfg.classes, class_map=cfg.class_map, score_threshold=cfg.score_threshold,
                    iou_threshold=cfg.iou_threshold, threads=cfg.threads)


def describe(detector) -> dict:
    """What alerts, status and stats say about the model that runs."""
    if detector is None:
        return {}
    m = detector.model.manifest
    return {"name": m.name, "version": m.version, "sha256": m.sha256}


def _write_json(path: Path, data: dict) -> None:
    write_atomic(path, json.dumps(data, indent=1))


class ModelManager:
    def __init__(self, profile, state_dir: Path, hub_key=None):
        self.profile = profile
        self.cfg = profile.rollout
        self.root = state_dir / "models"
        self.root.mkdir(parents=True, exist_ok=True)
        self.hub_key = hub_key
        self.stage = None
        self.recent: deque = deque(maxlen=self.cfg.self_test_frames)
        self._last_kept = 0.0
        self._job: threading.Thread | None = None
        self._done: queue.Queue = queue.Queue()
        self.last_result: dict | None = None
        self._save_trouble = WriteTrouble(
            log, f"model rollout: its state in {self.root / 'rollout.json'}",
            "it holds in memory until a write succeeds (a restart meanwhile runs the last recorded model)",
            level=logging.ERROR)
        path = self.root / "rollout.json"
        self.state = json.loads(path.read_text()) if path.exists() else {
            "current": None, "previous": None, "probation": False, "switched_at": None, "unclean_starts": 0,
            "clean": True, "rejected": []}

    # --- start and stop ------------------------------------------------------------------------
    def boot(self, stage) -> None:
        """Take over the stage built from the profile; run the model the last rollout chose (or roll back)."""
        self.stage = stage
        if stage is None:
            return
        st = self.state
        profile_model = str(stage.detector.model.path.resolve())
        if st.get("profile_model") != profile_model:  # a new [detect] model in the profile: the operator wins
            if st["current"] is not None:
                log.warning("model: the profile names %s now; rollouts before it are forgotten", profile_model)
            st.update(current=profile_model, previous=None, probation=False, unclean_starts=0,
                      profile_model=profile_model)
        if st["probation"] and not st["clean"]:
            st["unclean_starts"] += 1
            log.warning("model %s: the node stopped uncleanly %d time(s) since the switch",
                        Path(st["current"]).name, st["unclean_starts"])
        if st["probation"] and st["unclean_starts"] >= self.cfg.max_crashes and st["previous"]:
            self._note_rollback(f"{st['unclean_starts']} crashes after the switch")
        if Path(st["current"]).resolve() != stage.detector.model.path.resolve():
            try:
                self._swap(make_detector(self.profile, Path(st["current"])))
            except ModelError as exc:
                log.error("model: %s; running %s instead", exc, stage.detector.model.path)
                if st["previous"]:
                    self._note_rollback(f"failed to load at start: {exc}")
                    if Path(st["current"]).resolve() != stage.detector.model.path.resolve():
                        try:
                            self._swap(make_detector(self.profile, Path(st["current"])))
                        except ModelError:
                            st["current"] = str(stage.detector.model.path.resolve())
                else:
                    st["current"] = str(stage.detector.model.path.resolve())
        st["clean"] = False
        self._save()
        log.info("model %s", describe(stage.detector))

    def close(self) -> None:
        if self.stage is not None:
            self.state["clean"] = True
            self._save()

    def _save(self) -> bool:
        """Write rollout.json; a full disk must not stop the node, so a failed write is logged (once
        per problem) and the state stays in memory until the next write succeeds."""
        try:
            _write_json(self.root / "rollout.json", self.state)
        except OSError as exc:
            self._save_trouble.failed(exc)
            return False
        self._save_trouble.ok()
        return True

    # --- per frame -----------------------------------------------------------------------------
    def observe(self, frame) -> None:
        """Keep a few recent frames (one a second, references only) for the next self-test."""
        if frame.mono - self._last_kept >= 1.0:
            self._last_kept = frame.mono
            self.recent.append(frame.detect_image)

    def tick(self) -> None:
        """On the node's thread: finish a rollout whose test is done; confirm a model past probation."""
        try:
            outcome = self._done.get_nowait()
        except queue.Empty:
            outcome = None
        if outcome is not None:
            self._finish(*outcome)
        st = self.state
        if st["probation"] and st["switched_at"] and time.time() - st["switched_at"] >= self.cfg.probation_s:
            st["probation"], st["unclean_starts"] = False, 0
            self._save()
            log.info("model %s: probation passed; confirmed", Path(st["current"]).name)

    # --- rollout -------------------------------------------------------------------------------
    def start_rollout(self, args: dict, reply) -> None:
        if self.stage is None:
            raise RolloutError("this node runs no detector")
        if self._job is not None and self._job.is_alive():
            raise RolloutError("a rollout is already under way")
        manifest_text, sig, url = args.get("manifest"), args.get("sig"), args.get("url")
        if not all(isinstance(v, str) and v for v in (manifest_text, sig, url)):
            raise RolloutError('model rollout needs args {"manifest": TEXT, "sig": BASE64, "url": URL of the ONNX}')
        manifest = verify_manifest(manifest_text, sig, self.hub_key)  # before a single byte is fetched
        images = list(self.recent)
        self._job = threading.Thread(target=self._prepare, args=(manifest, manifest_text, sig, url, images, reply),
                                     name="model-rollout", daemon=True)
        self._job.start()

    def _prepare(self, manifest, manifest_text: str, sig: str, url: str, images: list, reply) -> None:
        folder = self.root / f"{manifest.name}-{manifest.version}-{manifest.sha256[:12]}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fetch(url, folder / manifest.file, manifest.sha256, timeout_s=self.cfg.timeout_s,
                  ca_file=self.cfg.ca_file)
            (folder / LABELS).write_text("".join(f"{c}\n" for c in manifest.classes), encoding="utf-8")
            (folder / MANIFEST).write_text(manifest_text, encoding="utf-8")
            (folder / SIGNATURE).write_text(sig + "\n", encoding="ascii")
        except (RolloutError, OSError) as exc:
            self._done.put((folder, None, None, f"fetch: {exc}", reply))
            return
        try:
            candidate = make_detector(self.profile, folder)
        except ModelError as exc:
            self._done.put((folder, None, None, f"load: {exc}", reply))
            return
        test = self_test(self.stage.detector, candidate, images, min_agreement=self.cfg.min_agreement,
                         max_slowdown=self.cfg.max_slowdown)
        self._done.put((folder, candidate, test, None if test.ok else f"self-test: {test.reason}", reply))

    def _finish(self, folder: Path, candidate, test, problem: str | None, reply) -> None:
        previous = describe(self.stage.detector)
        result = {"model": previous, "candidate": folder.name, "switched": False,
                  "self_test": test.summary() if test is not None else None}
        if problem is not None:
            log.error("model rollout of %s FAILED, %s stays: %s", folder.name, previous.get("name"), problem)
            self.state["rejected"] = (self.state.get("rejected", []) + [folder.name])[-10:]
            self._save()
            shutil.rmtree(folder, ignore_errors=True)
            result["rolled_back"] = problem
            self.last_result = result
            reply(False, f"model not switched: {problem}", result)
            return
        self._swap(candidate)  # between two frames: this runs on the node's thread
        st = self.state
        st["previous"], st["current"] = st["current"], str(folder.resolve())
        st["probation"], st["switched_at"], st["unclean_starts"] = True, time.time(), 0
        self._save()
        self._prune()
        result.update(model=describe(candidate), previous=previous, switched=True)
        self.last_result = result
        log.warning("model switched: %s -> %s (self-test: %s)", previous, result["model"], test.summary())
        reply(True, None, result)

    def _swap(self, detector) -> None:
        old = self.stage.detector
        self.stage.detector = detector
        if old is not None and tuple(old.input_size) != tuple(detector.input_size):
            self.stage._gate = None  # the motion gate is sized for the model's input: make a new one

    def _note_rollback(self, reason: str) -> None:
        st = self.state
        log.error("model ROLLBACK from %s to %s: %s", Path(st["current"]).name, Path(st["previous"]).name, reason)
        st["rejected"] = (st.get("rejected", []) + [Path(st["current"]).name])[-10:]
        st["current"], st["previous"] = st["previous"], None
        st["probation"], st["unclean_starts"], st["switched_at"] = False, 0, None
        self.last_result = {"rolled_back": reason, "model_folder": Path(st["current"]).name}

    def rollback(self, reason: str = "requested") -> dict:
        """Back to the previous model now (`model rollback`, or crashes); RolloutError if there is none."""
        st = self.state
        if not st.get("previous"):
            raise RolloutError("no previous model to roll back to")
        detector = make_detector(self.profile, Path(st["previous"]))  # ModelError: nothing changes
        before = describe(self.stage.detector)
        self._note_rollback(reason)
        self._swap(detector)
        self._save()
        return {"model": describe(detector), "previous": before, "rolled_back": reason}

    def _prune(self) -> None:
        keep = {Path(p).resolve() for p in (self.state["current"], self.state["previous"]) if p}
        folders = sorted((p for p in self.root.iterdir() if p.is_dir() and p.resolve() not in keep),
                         key=lambda p: p.stat().st_mtime, reverse=True)
        for old in folders[max(0, self.cfg.keep - len(keep)):]:
            shutil.rmtree(old, ignore_errors=True)

    def status(self) -> dict:
        st = self.state
        out = {"model": describe(self.stage.detector) if self.stage else {}, "probation": st["probation"],
               "previous": Path(st["previous"]).name if st.get("previous") else None}
        if self.last_result and "rolled_back" in self.last_result:
            out["rolled_back"] = self.last_result["rolled_back"]
        return out
