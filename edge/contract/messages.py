"""Pydantic models of the messages on the wire between nodes, officer devices and the hub.

The JSON Schemas under docs/schemas/ are generated from these models (`python -m
edge.contract.schemas`).  Two readings of one model: validation is what the hub accepts on ingest
(lenient where an older or newer node may differ: node messages allow extra keys, a missing
optional field takes its default), and the generated schema is what a node *sends* (the `wire`
overrides: fields a node always writes are required, times follow `TIME_PATTERN`).  Tests validate
what a real node sends against those schemas.  Officer-device messages and the hub's own messages
forbid extra keys.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .commands import (  # noqa: F401  (the hub's API imports the args models from here)
    ARGS,
    CommandName,
    ConfigArgs,
    EvidenceAckArgs,
    EvidenceHoldArgs,
    PingArgs,
    SnapshotArgs,
    SpeakArgs,
    ZoneArgs,
)
from .timefmt import TIME_PATTERN

Stage = Literal["warning", "alert", "cleared"]
Kind = Literal["fishing", "boat_intrusion", "stall", "parking", "intrusion", "camera_tamper"]
Basis = Literal["rod", "loitering", "stationary", "presence"]
SourceStateName = Literal["connecting", "streaming", "reconnecting", "ended", "failed", "stopped"]
NODE_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
NodeId = Field(min_length=1, max_length=63, pattern=NODE_PATTERN)
WIRE_TIME = {"type": "string", "pattern": TIME_PATTERN}
Time = Field(min_length=10, max_length=40, description="RFC 3339 time with its UTC offset")


def wire(**schema):
    """The field's JSON Schema as a node sends it (replacing what pydantic derives from the type)."""

    def replace(field_schema: dict) -> None:
        keep = {k: field_schema[k] for k in ("description", "title") if k in field_schema}
        field_schema.clear()
        field_schema.update(schema, **keep)

    return replace


def time_field(description: str = "RFC 3339 time with its UTC offset (edge.contract.timefmt)", *,
               nullable: bool = False, **kwargs):
    schema = {"anyOf": [{"type": "null"}, WIRE_TIME]} if nullable else WIRE_TIME
    return Field(min_length=10, max_length=40, description=description, json_schema_extra=wire(**schema), **kwargs)


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Location(_Open):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    uncertainty_m: float | None = Field(default=None, ge=0, json_schema_extra=wire(type="number", minimum=0))


class DetectedObject(_Open):
    track: int = Field(description="tracker id on the node")
    class_: str = Field(alias="class")
    box: list[Annotated[float, Field(ge=0, le=1)]] = Field(min_length=4, max_length=4,
                                                           description="x1, y1, x2, y2 relative to the picture")
    score: float = Field(ge=0, le=1)


class LifecycleMessage(_Open):
    """`{prefix}/{node}/alert`: QoS 1, at least once.  One message per stage of a violation;
    consumers de-duplicate by (id, stage)."""

    model_config = ConfigDict(title="Violation lifecycle message", json_schema_extra={"required": [
        "id", "node", "rule", "kind", "basis", "stage", "zone", "started_at", "warned_at", "confirmed_at",
        "ended_at", "ts", "objects", "confidence", "location", "snapshot", "evidence", "version"]})

    id: str = Field(min_length=1, max_length=128, description="the violation's id, the same in every stage")
    node: str = NodeId
    rule: str = Field(min_length=1, max_length=128, description="the rule's name in the node's profile")
    kind: str = Field(min_length=1, max_length=64, json_schema_extra=wire(enum=list(Kind.__args__)))
    stage: Stage
    zone: str = Field(max_length=128)
    started_at: str = time_field("when the situation began")
    warned_at: str | None = time_field("when it became a violation and the loudspeaker warned",
                                       nullable=True, default=None)
    confirmed_at: str | None = time_field("when it was still there at the re-check and became an alert",
                                          nullable=True, default=None)
    ended_at: str | None = time_field("when the objects were last seen (cleared)", nullable=True, default=None)
    ts: str = time_field("when this message was made")
    objects: list[DetectedObject] = Field(default_factory=list, max_length=256)
    confidence: float = Field(default=0.0, ge=0, le=1)
    location: Location | None = None
    snapshot: str | dict | None = Field(default=None, description="reference to the snapshot in the evidence bundle",
                                        json_schema_extra=wire(type=["null", "string", "object"]))
    evidence: str | None = Field(default=None, description="SHA-256 of the evidence manifest")
    version: str = ""
    reason: str | None = Field(
        default=None, json_schema_extra=wire(type="string"),
        description="why a violation was cleared other than by leaving: shutdown, disarmed, reconfigured, restart "
                    "(it was open when the node stopped unexpectedly; closed at the next start, ended_at is its "
                    "last message)")
    basis: Basis | None = Field(
        default=None, json_schema_extra=wire(enum=list(Basis.__args__)),
        description="what the violation rests on: fishing 'rod' (a person with gear at hand) or 'loitering' (a "
                    "person standing still in the zone for the dwell time, for models with no rod class); "
                    "'stationary' (stall, parking) or 'presence' (boat_intrusion, intrusion)")


class Status(_Open):
    """`{prefix}/{node}/status`: retained, QoS 1.  `online` on every connect, `offline` as the Last Will
    and on a graceful stop."""

    model_config = ConfigDict(title="Node status", json_schema_extra={"required": ["state", "ts", "version"]})

    state: Literal["online", "offline"]
    # Not yet TIME_PATTERN: edge/link/mqtt.py still writes `+0800` here (switched at the uplink merge).
    ts: str = time_field("when the node said it (RFC 3339 with offset)")
    version: str = Field(default="", description="edge-node software version")
    evidence_degraded: bool | None = Field(
        default=None, json_schema_extra=wire(type="boolean"),
        description="evidence storage is full of bundles it may not delete: clips are not kept, snapshots are")
    healthy: bool | None = Field(
        default=None, json_schema_extra=wire(type="boolean"),
        description="false while a background thread of the link cannot do its work (a database or disk error); "
                    "it retries")
    problems: list[str] | None = Field(default=None, json_schema_extra=wire(type="array", items={"type": "string"}),
                                       description="one line per thread that is not healthy")
    outbox_awaiting_receipt: int | None = Field(
        default=None, ge=0, json_schema_extra=wire(type="integer", minimum=0),
        description="lifecycle messages the broker acknowledged that still wait for the hub's receipt")


def _count(description: str = ""):
    return Field(default=None, ge=0, description=description or None,
                 json_schema_extra=wire(type="integer", minimum=0))


class Stats(_Open):
    """`{prefix}/{node}/stats`: QoS 0, every [link] stats_interval_s; dropped while offline."""

    model_config = ConfigDict(title="Node statistics")

    ts: str = time_field()
    fps: float = Field(ge=0)
    frames: int = Field(ge=0)
    dropped: int = Field(ge=0, description="frames skipped because the pipeline was busy")
    source: str = Field(json_schema_extra=wire(enum=list(SourceStateName.__args__)))
    reconnects: int | None = _count()
    uptime_s: float = Field(ge=0)
    cpu_temp_c: float | None = None
    disk_free_bytes: int | None = Field(default=None, ge=0)
    evidence_bytes: int | None = _count()
    open_violations: int | None = _count()
    inference_ms: float | None = Field(default=None, ge=0, json_schema_extra=wire(type="number", minimum=0))
    detector_runs: int | None = _count()
    outbox_depth: int | None = _count()
    outbox_bytes: int | None = _count()
    outbox_over_limit: bool | None = Field(default=None, json_schema_extra=wire(type="boolean"))
    outbox_awaiting_receipt: int | None = _count(
        "lifecycle messages sent and not yet receipted by the hub (part of outbox_depth)")
    outbox_resent: int | None = _count("messages sent again for want of a receipt, since start")
    healthy: bool | None = Field(
        default=None, json_schema_extra=wire(type="boolean"),
        description="false while a background thread cannot do its work (a database or disk error)")
    problems: list[str] | None = Field(default=None, json_schema_extra=wire(type="array", items={"type": "string"}))
    # The uplink as the uploader measures it (edge/link/pace.py) and the evidence waiting (docs/evidence.md).
    link_rate_bytes_s: int | None = _count("the uplink's rate as the uploader measures it from the receiver's answers")
    link_rtt_s: float | None = Field(default=None, ge=0, json_schema_extra=wire(type="number", minimum=0),
                                     description="the shortest time from sending an evidence segment to its answer")
    window_bytes: int | None = _count(
        "evidence bytes the uploader keeps in flight at most (rate x (answer time + queue_delay_s))")
    segment_bytes: int | None = _count("the size of the evidence segments now sent")
    inflight_bytes: int | None = _count("evidence bytes sent and not yet answered")
    upload_bytes_queued: int | None = _count("evidence bytes still to send")
    upload_files_queued: int | None = _count("evidence files still to send")
    upload_oldest_wait_s: float | None = Field(default=None, ge=0, json_schema_extra=wire(type="number", minimum=0),
                                               description="how long the oldest queued evidence file has waited")
    upload_files_missing: int | None = _count("queued files that vanished from the node's disk")


class CmdResult(_Closed):
    """`{prefix}/{node}/cmd_result`: QoS 1.  Exactly one for every command received; `id` is null
    when the command could not be read at all."""

    model_config = ConfigDict(title="Command result", json_schema_extra={
        "if": {"properties": {"ok": {"const": False}}}, "then": {"required": ["error"]}})

    id: str | None
    ok: bool
    error: str | None = Field(default=None, description="one line: why the command was refused or failed",
                              json_schema_extra=wire(type="string"))
    node: str
    name: str | None
    ts: str = time_field("when the node answered")
    data: dict[str, Any] | None = Field(default=None, json_schema_extra=wire(type="object"))


class CommandEnvelope(_Closed):
    """`{prefix}/{node}/cmd/{name}`: QoS 1.  `sig` is the hub's Ed25519 signature (base64) over the
    canonical JSON (sorted keys, no spaces, UTF-8) of every other field (edge/link/commands.py)."""

    model_config = ConfigDict(title="Signed command envelope")

    id: str = Field(min_length=1, max_length=128)
    node: str
    name: str = Field(json_schema_extra=wire(enum=list(ARGS)))
    args: dict[str, Any] = Field(description="the command's arguments: the model of its name (edge.contract.commands)")
    issued_at: str = Field(description="RFC 3339 with offset", json_schema_extra=wire(**WIRE_TIME))
    expires_at: str = Field(description="RFC 3339 with offset; at most one hour after issued_at",
                            json_schema_extra=wire(**WIRE_TIME))
    nonce: str = Field(min_length=1, description="unique per command; a repeated nonce is refused as a replay")
    sig: str = Field(json_schema_extra=wire(type="string", contentEncoding="base64"))


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
