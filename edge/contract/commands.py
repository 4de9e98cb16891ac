"""The arguments of every command a node takes: one pydantic model per command name.

The node registers each handler with its model (edge.link.commands.CommandRouter): arguments the
model refuses get a one-line `bad args: FIELD: why` result before any handler runs.  The hub's API
validates what a dispatcher sends with the same models.

Argument names are the same across commands: a bundle is `bundle` (evidence_ack, evidence_hold), a
zone `zone`.  Old spellings (`DEPRECATED`) are still accepted for one release; the node logs a
deprecation line when one arrives.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class CommandArgs(BaseModel):
    """Base of the args models: unknown keys are refused (a typo is an error, not a silent default),
    and types are strict (JSON `"yes"` is not `true`, `"3"` is not 3)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    #: old name -> current name, accepted for one release with a deprecation line in the node's log
    DEPRECATED: ClassVar[dict[str, str]] = {}


class PingArgs(CommandArgs):
    """`ping`: no arguments.  Result data: `version`, `uptime_s`, `source`."""


class ZoneArgs(CommandArgs):
    """`zone`: arm or disarm one zone; disarming clears its open violations."""

    zone: str = Field(min_length=1, max_length=128)
    armed: bool


class SpeakArgs(CommandArgs):
    """`speak`: a clip of the node's library or a text for its offline TTS (one of the two)."""

    clip: str | None = Field(default=None, min_length=1, max_length=64)
    text: str | None = Field(default=None, min_length=1, max_length=200)
    volume: float | None = Field(default=None, ge=0, le=1)
    repeat: int | None = Field(default=None, ge=1, le=5)


class SnapshotArgs(CommandArgs):
    """`snapshot`: save the newest frame; with `thumbnail` a small copy comes back in the result."""

    thumbnail: int | None = Field(default=None, ge=64, le=1280,
                                  description="width of a small copy sent back in the result (edge.contract.thumbnail)")


class ConfigArgs(CommandArgs):
    """`config`: a whole new profile; zones, rules and tracking apply at once, the rest at restart."""

    toml: str = Field(min_length=1, max_length=200_000, description="the node's whole new profile")


class EvidenceAckArgs(CommandArgs):
    """`evidence_ack`: the hub's verdict on an uploaded bundle (sent by `edge-hub receive`)."""

    bundle: str = Field(min_length=1, max_length=128)
    verified: bool
    manifest_sha256: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=2000)


class EvidenceHoldArgs(CommandArgs):
    """`evidence_hold`: keep a bundle from retention (`hold` true) or release it."""

    DEPRECATED: ClassVar[dict[str, str]] = {"id": "bundle"}

    bundle: str = Field(min_length=1, max_length=128)
    hold: bool = True


class ModelArgs(CommandArgs):
    """`model` (the field loop, docs/fieldloop.md): `rollout` a hub-signed model, `rollback` to the one
    before, or `status`.  A rollout carries the exact text of the signed manifest, so a node checks the
    signature before it fetches anything; the ONNX comes from `url` and must have the manifest's sha256."""

    action: Literal["rollout", "rollback", "status"] = "status"
    manifest: str | None = Field(default=None, min_length=2, max_length=200_000,
                                 description="rollout: the exact text of manifest.json")
    sig: str | None = Field(default=None, min_length=1, max_length=200,
                            description="rollout: base64 Ed25519 signature of the hub over the manifest")
    url: str | None = Field(default=None, pattern=r"^https?://", max_length=2000,
                            description="rollout: where model.onnx is fetched from")

    @model_validator(mode="after")
    def _rollout_names_its_model(self):
        given = [k for k in ("manifest", "sig", "url") if getattr(self, k) is not None]
        if self.action == "rollout" and len(given) < 3:
            missing = ", ".join(k for k in ("manifest", "sig", "url") if k not in given)
            raise ValueError(f"a rollout needs manifest, sig and url (missing: {missing})")
        if self.action != "rollout" and given:
            raise ValueError(f"{', '.join(given)}: only a rollout takes them")
        return self


class DatasetArgs(CommandArgs):
    """`dataset` (the field loop): `pull` a pack of captured frames for labelling, or `status`."""

    action: Literal["pull", "status"] = "status"
    max_frames: int = Field(default=500, ge=1, le=10_000)
    hard_negatives: list[str] = Field(default_factory=list, max_length=10_000,
                                      description="violation ids dismissed as 'wrong object'")


#: every command a node may take, by name
ARGS: dict[str, type[CommandArgs]] = {
    "ping": PingArgs, "zone": ZoneArgs, "speak": SpeakArgs, "snapshot": SnapshotArgs, "config": ConfigArgs,
    "evidence_ack": EvidenceAckArgs, "evidence_hold": EvidenceHoldArgs, "model": ModelArgs, "dataset": DatasetArgs,
}

CommandName = Literal["ping", "zone", "speak", "snapshot", "config", "evidence_ack", "evidence_hold", "model",
                      "dataset"]


def renamed(model: type[CommandArgs], args: dict) -> tuple[dict, list[str]]:
    """`args` with deprecated names replaced by the current ones, and one line per replacement."""
    notes = []
    out = dict(args)
    for old, new in model.DEPRECATED.items():
        if old in out and new not in out:
            out[new] = out.pop(old)
            notes.append(f"argument {old!r} is deprecated, use {new!r}")
    return out, notes


def first_error(exc) -> str:
    """A pydantic ValidationError as one line naming the field: `bad args: armed: Input should be ...`."""
    from .errors import field_error

    errors = exc.errors()
    if not errors:
        return "bad args"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"bad args: {field_error(exc, '(args)')}{more}"
