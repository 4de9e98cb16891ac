"""The field loop's part of the contract (issue 21): the `model` and `dataset` commands' args and the
`model` field that status, stats and every lifecycle message carry.

`model` rollout args hold the hub-signed manifest text itself, so a node checks the signature before
it fetches anything; the ONNX comes from `url` and must have the manifest's sha256.  A dataset pack
is uploaded like an evidence bundle (its manifest says `"kind": "dataset"`) and is filed by the hub as
training data, never as evidence.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import field_error


class ModelInfo(BaseModel):
    """`"model"` in status, stats and lifecycle messages: the model that runs (or made the alert)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ModelRollout(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["rollout"]
    manifest: str = Field(min_length=2, max_length=200_000, description="the exact text of manifest.json")
    sig: str = Field(min_length=1, max_length=200, description="base64 Ed25519 signature of the hub over it")
    url: str = Field(pattern=r"^https?://", max_length=2000, description="where model.onnx is fetched from")


class ModelAction(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["rollback", "status"] = "status"


class DatasetPull(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["pull", "status"] = "status"
    max_frames: int = Field(default=500, ge=1, le=10_000)
    hard_negatives: list[str] = Field(default_factory=list, max_length=10_000,
                                      description="violation ids dismissed as 'wrong object'")


def model_args(args: dict) -> ModelRollout | ModelAction:
    """The `model` command's args, or ValueError with one line naming the field."""
    cls = ModelRollout if args.get("action") == "rollout" else ModelAction
    return _parse(cls, args)


def dataset_args(args: dict) -> DatasetPull:
    return _parse(DatasetPull, args)


def _parse(cls, args: dict):
    try:
        return cls.model_validate(args)
    except ValidationError as exc:
        raise ValueError(field_error(exc, "args")) from None
