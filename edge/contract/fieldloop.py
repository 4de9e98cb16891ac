"""The field loop's part of the contract (issue 21): the `model` field that status, stats and every
lifecycle message carry.  The `model` and `dataset` commands' args are in `commands.py` with every
other command's (`ModelArgs`, `DatasetArgs`, re-exported here), so the router refuses bad ones
before a handler runs.  A dataset pack is uploaded like an evidence bundle (its manifest says
`"kind": "dataset"`) and is filed by the hub as training data, never as evidence.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from .commands import DatasetArgs, ModelArgs

__all__ = ["DatasetArgs", "ModelArgs", "ModelInfo"]


class ModelInfo(BaseModel):
    """`"model"` in status, stats and lifecycle messages: the model that runs (or made the alert)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
