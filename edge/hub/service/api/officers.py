"""Officers and their devices: register (admin), list with positions and current task."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from .. import officers
from .deps import Hub, User, admin, hub, viewer

router = APIRouter(prefix="/api/officers", tags=["officers"])


class Officer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    name: str = Field(min_length=1, max_length=100)
    badge: str = Field(default="", max_length=32, description="officer number")
    device: str = Field(default="", max_length=64, description="serial of the phone or body-worn recorder")


@router.get("")
def list_officers(h: Hub = Depends(hub), u: User = Depends(viewer)) -> dict:
    with h.db.tx(write=False) as t:
        tasks = {o: (i, s, inc) for i, o, s, inc in
                 t.execute("SELECT id, officer, state, incident FROM tasks WHERE state IN ('sent', 'accepted', "
                           "'on_scene')")}
        rows = t.execute("SELECT id, name, badge, device, lat, lon, position_at, available FROM officers ORDER BY id")
    items = []
    for oid, name, badge, device, lat, lon, at, available in rows:
        task = tasks.get(oid)
        items.append({"id": oid, "name": name, "badge": badge, "device": device, "lat": lat, "lon": lon,
                      "position_at": at, "available": bool(available) and task is None,
                      "task": None if task is None else {"id": task[0], "state": task[1], "incident": int(task[2])}})
    return {"items": items}


@router.post("")
def register(body: Officer, h: Hub = Depends(hub), u: User = Depends(admin)) -> dict:
    with h.db.tx() as t:
        officers.register(t, body.id, body.name, body.badge, body.device)
    return {"id": body.id}
