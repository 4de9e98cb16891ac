"""The node's side of the field loop (issue 21): model rollout/rollback and dataset capture.

One object with a few hooks, so the node and its builder stay as they are:
  fieldloop = FieldLoop(profile, state_dir, stage, evidence=..., link=...)   # after build_detection
  fieldloop.on_frame(frame, result, open_ids)   # once per frame, after the pipeline
  body.update(fieldloop.stats())               # in the node's stats (and status)
  fieldloop.name_model(message)                # every lifecycle message names its model
  fieldloop.close()                            # on a clean stop
Commands: `model` (args action = rollout | rollback | status) and `dataset` (action = pull | status).
"""

from __future__ import annotations

import logging
from pathlib import Path

from .detect.model import ModelError
from .link.commands import CommandRefused
from .rollout import RolloutError
from .rollout.manager import ModelManager, describe

log = logging.getLogger("edge.fieldloop")


class FieldLoop:
    def __init__(self, profile, state_dir: Path, stage, *, evidence=None, link=None):
        self.profile = profile
        self.stage = stage
        self.link = link
        self.evidence = evidence
        hub_key = link.verifier.hub_key if link is not None else None
        self.models = ModelManager(profile, state_dir, hub_key)
        self.models.boot(stage)
        self.capture = None
        if profile.dataset.enabled and stage is not None:
            from .dataset import DatasetCapture

            self.capture = DatasetCapture(profile, state_dir, evidence=evidence, model_info=self.model)
        self.state_dir = state_dir
        self._announced: str | None = None
        if link is not None:
            from .contract.commands import DatasetArgs, ModelArgs

            link.router.register("model", ModelArgs, self._cmd_model)
            link.router.register("dataset", DatasetArgs, self._cmd_dataset)

    # --- hooks ---------------------------------------------------------------------------------
    def on_frame(self, frame, result, open_ids=()) -> None:
        self.models.tick()
        if self.stage is None:
            return
        sha = self.stage.detector.model.manifest.sha256
        if sha != self._announced and self.link is not None:  # at start, and after a switch or a rollback
            self._announced = sha
            self.link.refresh_status()  # the retained status names the model that runs
        self.models.observe(frame)
        if self.capture is not None:
            self.capture.observe(frame, result.detections, result.events, open_ids)

    def model(self) -> dict:
        return describe(self.stage.detector) if self.stage is not None else {}

    def name_model(self, message: dict) -> None:
        """A lifecycle message names the model that runs now (the one that saw it), unless it already does."""
        info = self.model()
        if info:
            message.setdefault("model", info)

    def stats(self) -> dict:
        out = {"model": self.model()}
        if self.models.last_result and "rolled_back" in self.models.last_result:
            out["model_rolled_back"] = self.models.last_result["rolled_back"]
        if self.capture is not None:
            out.update(self.capture.stats())
        return out

    def close(self) -> None:
        self.models.close()

    # --- commands ------------------------------------------------------------------------------
    def _cmd_model(self, command, reply) -> None:
        action = command.params.action  # ModelArgs, checked by the router
        try:
            if action == "rollout":
                self.models.start_rollout(command.args, reply)  # the reply comes when the switch is done
            elif action == "rollback":
                result = self.models.rollback("requested by the hub")
                if self.link is not None:
                    self.link.refresh_status()
                reply(True, None, result)
            elif action == "status":
                reply(True, None, self.models.status())
        except RolloutError as exc:
            raise CommandRefused(str(exc)) from None
        except ModelError as exc:
            raise CommandRefused(f"previous model does not load, nothing changed: {exc}") from None

    def _cmd_dataset(self, command, reply) -> None:
        from .dataset.pack import make_pack, prune_packs

        args = command.params  # DatasetArgs, checked by the router
        action = args.action
        if self.capture is None:
            raise CommandRefused("dataset capture is off on this node ([dataset] enabled = false)")
        if action == "status":
            reply(True, None, self.capture.stats())
            return
        if self.link is None or self.link.upload_store is None:
            raise CommandRefused("dataset pull needs the uploader ([upload] enabled = true)")
        hard, max_frames = args.hard_negatives, args.max_frames
        key = self.evidence.key if self.evidence is not None else self._node_key()
        prune_packs(self.capture, self.link.upload_store)
        folder, sha, frames = make_pack(self.capture, key, max_frames=max_frames, hard_negatives=set(hard))
        self.link.queue_bundle(folder, sha, kind="dataset")
        log.info("dataset: pack %s with %d frames queued for upload", folder.name, frames)
        reply(True, None, {"pack": folder.name, "frames": frames, "manifest_sha256": sha})

    def _node_key(self):
        from .crypto import KeyFileError, load_private_key

        try:
            return load_private_key(self.state_dir / "keys" / "node.key")
        except KeyFileError as exc:
            raise CommandRefused(f"dataset pull signs the pack with the node key: {exc}") from None
