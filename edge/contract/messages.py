"""Pydantic models of the messages on the wire between nodes, officer devices and the hub.

The node's own JSON Schemas (docs/schemas/) describe the same payloads; these models are what the
hub validates on ingest and what its API takes and returns.  Node messages allow extra keys (a newer
node may add fields the hub does not know yet, as the schemas do); officer-device messages and the
hub's own messages forbid them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Stage = Literal["warning", "alert", "cleared"]
NodeId = Field(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
Time = Field(min_length=10, max_length=40, description="RFC 3339 time with its UTC offset")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Location(_Open):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    uncertainty_m: float | None = Field(default=None, ge=0)


class DetectedObject(_Open):
    track: int
    class_: str = Field(alias="class")
    box: list[float] = Field(min_length=4, max_length=4)
    score: float = Field(ge=0, le=1)


class LifecycleMessage(_Open):
    """`{prefix}/{node}/alert`: one stage of one violation; de-duplicated by (id, stage)."""

    id: str = Field(min_length=1, max_length=128)
    node: str = NodeId
    rule: str = Field(min_length=1, max_length=128)
    kind: str = Field(min_length=1, max_length=64)
    stage: Stage
    zone: str = Field(max_length=128)
    started_at: str = Time
    warned_at: str | None = None
    confirmed_at: str | None = None
    ended_at: str | None = None
    ts: str = Time
    objects: list[DetectedObject] = Field(default_factory=list, max_length=256)
    confidence: float = Field(default=0.0, ge=0, le=1)
    location: Location | None = None
    snapshot: str | dict | None = None
    evidence: str | None = None
    version: str = ""
    reason: str | None = None
    # How strong the evidence is: "rod" (a rod seen with its angler) or "loitering" (a person still in
    # the shore zone, for models with no rod class) for fishing; "stationary" or "presence" otherwise.
    basis: Literal["rod", "loitering", "stationary", "presence"] | None = None


class Status(_Open):
    """`{prefix}/{node}/status` (retained, also the Last Will)."""

    state: Literal["online", "offline"]
    ts: str = Time
    version: str = ""
    evidence_degraded: bool | None = None


class Stats(_Open):
    """`{prefix}/{node}/stats` (QoS 0): the node's health figures."""

    ts: str = Time
    fps: float = Field(ge=0)
    frames: int = Field(ge=0)
    dropped: int = Field(ge=0)
    source: str
    uptime_s: float = Field(ge=0)
    # The uplink as the uploader measures it (edge/link/pace.py) and the evidence waiting (issue 22).
    link_rate_bytes_s: int | None = Field(default=None, ge=0)
    link_rtt_s: float | None = Field(default=None, ge=0)
    window_bytes: int | None = Field(default=None, ge=0)
    upload_bytes_queued: int | None = Field(default=None, ge=0)
    upload_oldest_wait_s: float | None = Field(default=None, ge=0)


class CmdResult(_Closed):
    """`{prefix}/{node}/cmd_result`: exactly one per command the node received."""

    id: str | None
    ok: bool
    error: str | None = None
    node: str
    name: str | None
    ts: str
    data: dict[str, Any] | None = None


CommandName = Literal["ping", "speak", "snapshot", "zone", "config", "evidence_hold", "evidence_ack"]


class CommandEnvelope(_Closed):
    """`{prefix}/{node}/cmd/{name}`: signed by the hub key (Ed25519 over the canonical JSON of every
    other field; see edge/link/commands.py)."""

    id: str = Field(min_length=1, max_length=128)
    node: str
    name: str
    args: dict[str, Any]
    issued_at: str
    expires_at: str
    nonce: str
    sig: str


# --- command arguments the hub's API accepts ---------------------------------------------------

class SpeakArgs(_Closed):
    clip: str | None = Field(default=None, min_length=1, max_length=64)
    text: str | None = Field(default=None, min_length=1, max_length=200)
    volume: float | None = Field(default=None, ge=0, le=1)
    repeat: int | None = Field(default=None, ge=1, le=5)


class ZoneArgs(_Closed):
    zone: str = Field(min_length=1, max_length=128)
    armed: bool


class SnapshotArgs(_Closed):
    thumbnail: int | None = Field(default=None, ge=64, le=1280,
                                  description="width of a small copy sent back in the result (edge.contract.thumbnail)")


class PingArgs(_Closed):
    pass


class ConfigArgs(_Closed):
    toml: str = Field(min_length=1, max_length=200_000, description="the node's whole new profile")


# --- officer devices -----------------------------------------------------------------------------

class OfficerPosition(_Closed):
    """`{prefix}/officer/{id}/position`: from the officer's device (phone or body-worn recorder)."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    ts: str = Time
    accuracy_m: float | None = Field(default=None, ge=0)
    available: bool = True


class OfficerTask(_Closed):
    """`{prefix}/officer/{id}/task`: the hub's signed task (sig over the canonical JSON of the rest,
    with the hub key, as commands)."""

    id: str
    officer: str
    incident: int
    node: str
    rule: str
    kind: str
    zone: str
    lat: float | None
    lon: float | None
    issued_at: str
    note: str = ""
    sig: str


class TaskState(_Closed):
    """`{prefix}/officer/{id}/task_state`: the device reports progress on a task."""

    task: str = Field(min_length=1, max_length=128)
    state: Literal["accepted", "on_scene", "done", "declined"]
    ts: str = Time
    comment: str = Field(default="", max_length=500)
