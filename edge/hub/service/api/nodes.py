"""Nodes (status, last stats, zones, last snapshot) and the commands the hub sends them."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ....contract.errors import field_error
from .. import commands
from .deps import Hub, User, dispatcher, hub, viewer

router = APIRouter(prefix="/api", tags=["nodes", "commands"])

NODE_COLUMNS = ("node", "state", "status", "status_at", "stats", "stats_at", "snapshot", "snapshot_at", "zones",
                "lat", "lon")


class CommandRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Literal["speak", "snapshot", "zone", "config", "ping"]
    args: dict[str, Any] = Field(default_factory=dict)
    incident: int | None = None
    lifetime_s: float = Field(default=120.0, gt=0, le=3600)


def _node(row: tuple) -> dict:
    out = dict(zip(NODE_COLUMNS, row, strict=True))
    for k in ("status", "stats", "snapshot", "zones"):
        out[k] = json.loads(out[k]) if out[k] else None
    return out


@router.get("/nodes")
def nodes(h: Hub = Depends(hub), u: User = Depends(viewer)) -> dict:
    return {"items": [_node(r) for r in h.db.query(f"SELECT {', '.join(NODE_COLUMNS)} FROM nodes ORDER BY node")]}


@router.get("/nodes/{node}")
def node(node: str, h: Hub = Depends(hub), u: User = Depends(viewer)) -> dict:
    rows = h.db.query(f"SELECT {', '.join(NODE_COLUMNS)} FROM nodes WHERE node = ?", (node,))
    if not rows:
        raise HTTPException(404, f"no node {node}")
    return _node(rows[0])


@router.get("/nodes/{node}/snapshot")
def snapshot(node: str, h: Hub = Depends(hub), u: User = Depends(viewer)) -> FileResponse:
    """The picture of the node's last snapshot command (asked with {"thumbnail": WIDTH})."""
    rows = h.db.query("SELECT snapshot FROM nodes WHERE node = ?", (node,))
    picture = json.loads(rows[0][0]).get("picture") if rows and rows[0][0] else None
    path = h.evidence_root / "snapshots" / node / picture if picture else None
    if path is None or not path.is_file():
        raise HTTPException(404, f"no snapshot picture from {node} (send snapshot with args {{\"thumbnail\": 640}})")
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.post("/nodes/{node}/commands")
def send(node: str, body: CommandRequest, h: Hub = Depends(hub), u: User = Depends(dispatcher)) -> dict:
    model = commands.ARGS[body.name]
    try:
        args = model.model_validate(body.args)
    except ValidationError as exc:
        raise HTTPException(422, f"args.{field_error(exc, '(all)')}") from None
    if body.name == "speak" and (args.clip is None) == (args.text is None):
        raise HTTPException(422, "args: speak takes exactly one of clip or text")
    with h.db.tx() as t:
        if not t.one("SELECT 1 FROM nodes WHERE node = ?", (node,)):
            raise HTTPException(404, f"no node {node} (it has never reported)")
        if body.incident is not None and not t.one("SELECT 1 FROM incidents WHERE id = ?", (body.incident,)):
            raise HTTPException(422, f"incident: no incident {body.incident}")
        envelope = commands.issue(t, h.key, node, body.name, args, f"user:{u.name}", incident=body.incident,
                                  lifetime_s=body.lifetime_s)
    h.publish(f"{h.config.hub.prefix}/{node}/cmd/{body.name}", json.dumps(envelope).encode())
    return {"id": envelope["id"], "state": "sent", "expires_at": envelope["expires_at"]}


@router.get("/commands")
def list_commands(node: str | None = None, limit: int = 100, h: Hub = Depends(hub),
                  u: User = Depends(viewer)) -> dict:
    sql = f"SELECT {', '.join(commands.COLUMNS)} FROM commands"
    params: tuple = ()
    if node:
        sql, params = sql + " WHERE node = ?", (node,)
    rows = h.db.query(sql + " ORDER BY issued_at DESC LIMIT ?", (*params, max(1, min(limit, 1000))))
    return {"items": [commands.as_dict(r) for r in rows]}


@router.get("/commands/{command}")
def command(command: str, h: Hub = Depends(hub), u: User = Depends(viewer)) -> dict:
    rows = h.db.query(f"SELECT {', '.join(commands.COLUMNS)} FROM commands WHERE id = ?", (command,))
    if not rows:
        raise HTTPException(404, f"no command {command}")
    return commands.as_dict(rows[0])
