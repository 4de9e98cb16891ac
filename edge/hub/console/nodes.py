"""The nodes page (health: last seen, fps, inference, disk, temperature, outbox, receipts, model and
version) and the zone editor (the camera's latest snapshot with its zones; the editing happens in
the browser, the saving through POST /api/nodes/{node}/zones)."""

from __future__ import annotations

import json
import time

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ..service.api.deps import User
from ..service.api.zones import NODE_AUDIT, current_zones
from .mapview import node_state
from .web import can, hub_of, render, signed_in

router = APIRouter(prefix="/console/nodes", include_in_schema=False)


def _profile_model(h, node: str) -> str | None:
    """The detector the hub's copy of the node's profile names (the node's stats carry no model name)."""
    import tomllib

    from ..service.api.zones import profile_path

    try:
        path = profile_path(h, node)
        return tomllib.loads(path.read_text(encoding="utf-8")).get("detect", {}).get("model") if path.is_file() else None
    except Exception:  # a node id the editor refuses (HTTPException), an unreadable or broken copy: none shown
        return None


def health(request: Request) -> list[dict]:
    h = hub_of(request)
    now = time.time()
    out = []
    for node, state, status, status_at, stats, stats_at, snap_at in h.db.query(
            "SELECT node, state, status, status_at, stats, stats_at, snapshot_at FROM nodes ORDER BY node"):
        status = json.loads(status) if status else {}
        stats = json.loads(stats) if stats else {}
        disk = stats.get("disk_free_bytes")
        out.append({"node": node, "state": node_state(state, status, stats, stats_at, now),
                    "last_seen": max(t for t in (status_at, stats_at, 0) if t is not None),
                    "fps": stats.get("fps"), "inference_ms": stats.get("inference_ms"),
                    "disk_gb": None if disk is None else round(disk / 1e9, 1), "temp_c": stats.get("cpu_temp_c"),
                    "outbox": stats.get("outbox_depth"), "awaiting": stats.get("outbox_awaiting_receipt"),
                    "model": stats.get("model") or _profile_model(h, node), "version": status.get("version"),
                    "snapshot_at": snap_at})
    return out


@router.get("", response_class=HTMLResponse)
def page(request: Request, u: User = Depends(signed_in)) -> HTMLResponse:
    return render(request, "nodes.html", u, nodes=health(request))


@router.get("/{node}/zones", response_class=HTMLResponse)
def editor(request: Request, node: str, u: User = Depends(signed_in)) -> HTMLResponse:
    h = hub_of(request)
    zones = current_zones(h, node)
    has_snapshot = bool(h.db.query("SELECT 1 FROM nodes WHERE node = ? AND snapshot IS NOT NULL", (node,)))
    changes = [{"at": at, "actor": actor, "comment": c} for at, actor, c in h.db.query(
        "SELECT at, actor, comment FROM audit WHERE incident = ? AND comment LIKE ? ORDER BY id DESC LIMIT 10",
        (NODE_AUDIT, f"zones of {node}:%"))]
    return render(request, "zones.html", u, node=node, zones=zones, zones_json=json.dumps(zones or []),
                  has_snapshot=has_snapshot, can_edit=can(u, "admin"), changes=changes)
