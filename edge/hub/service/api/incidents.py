"""Incidents: list with filters, detail (messages, audit trail, tasks, commands, evidence), transitions,
nearest-officer proposals and dispatch."""

from __future__ import annotations

import json
import time
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from .. import incidents as inc
from .. import officers
from ..incidents import TransitionError
from .deps import Hub, User, dispatcher, hub, viewer

router = APIRouter(prefix="/api/incidents", tags=["incidents"])

State = Literal["new", "acknowledged", "dispatched", "on_scene", "resolved", "closed", "dismissed"]


class Transition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: Literal["acknowledged", "on_scene", "resolved", "closed", "dismissed"]
    comment: str = Field(default="", max_length=1000)
    reason: Literal["wrong_object", "authorised", "duplicate", "test", "other"] | None = None


class Dispatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    officer: str = Field(min_length=1, max_length=64)
    note: str = Field(default="", max_length=500)


def _fail(exc: TransitionError):
    raise HTTPException(exc.status, str(exc))


@router.get("")
def list_incidents(state: list[State] | None = Query(None), node: str | None = None, rule: str | None = None,
                   level: Literal["warning", "alert"] | None = None, overdue: bool | None = None,
                   since: float | None = None, until: float | None = None,
                   limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0),
                   h: Hub = Depends(hub), u: User = Depends(viewer)) -> dict:
    where, params = [], []
    if state:
        where.append(f"state IN ({', '.join('?' for _ in state)})")
        params += state
    for column, value in (("node", node), ("rule", rule), ("level", level)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        where.append("opened_at >= ?")
        params.append(since)
    if until is not None:
        where.append("opened_at < ?")
        params.append(until)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    now = time.time()
    order = " ORDER BY opened_at DESC, id DESC"
    with h.db.tx(write=False) as t:
        if overdue is None:
            total = int(t.one(f"SELECT count(*) FROM incidents{clause}", params)[0])
            rows = t.execute(f"{inc.SELECT}{clause}{order} LIMIT ? OFFSET ?", (*params, limit, offset))
        else:  # overdue depends on each rule's targets and the clock: filtered here, then paged
            rows = t.execute(f"{inc.SELECT}{clause}{order}", params)
    items = [inc.as_dict(r, h.config.incidents, now) for r in rows]
    if overdue is not None:
        items = [i for i in items if i["overdue"] == overdue]
        total, items = len(items), items[offset:offset + limit]
    return {"total": total, "items": items}


@router.get("/{incident}")
def detail(incident: int, h: Hub = Depends(hub), u: User = Depends(viewer)) -> dict:
    with h.db.tx(write=False) as t:
        row = t.one(f"{inc.SELECT} WHERE id = ?", (incident,))
        if row is None:
            raise HTTPException(404, f"no incident {incident}")
        out = inc.as_dict(row, h.config.incidents)
        out["messages"] = [json.loads(p) for (p,) in
                           t.execute("SELECT payload FROM messages WHERE incident = ? ORDER BY received", (incident,))]
        out["audit"] = inc.audit(t, incident)
        out["tasks"] = [{"id": i, "officer": o, "state": s, "issued_at": a} for i, o, s, a in
                        t.execute("SELECT id, officer, state, issued_at FROM tasks WHERE incident = ? ORDER BY "
                                  "issued_at", (incident,))]
        out["commands"] = [{"id": i, "node": n, "name": nm, "state": s, "ok": None if ok is None else bool(ok),
                            "error": e} for i, n, nm, s, ok, e in
                           t.execute("SELECT id, node, name, state, ok, error FROM commands WHERE incident = ? "
                                     "ORDER BY issued_at", (incident,))]
    hashes = {m.get("evidence") for m in out["messages"] if m.get("evidence")}
    from ..evidence import bundles_by_manifest

    out["evidence"] = bundles_by_manifest(h.evidence_root, out["node"], hashes)
    return out


@router.post("/{incident}/transition")
def move(incident: int, body: Transition, h: Hub = Depends(hub), u: User = Depends(dispatcher)) -> dict:
    try:
        with h.db.tx() as t:
            return inc.transition(t, incident, body.to, f"user:{u.name}", body.comment, reason=body.reason)
    except TransitionError as exc:
        _fail(exc)


@router.get("/{incident}/proposals")
def proposals(incident: int, h: Hub = Depends(hub), u: User = Depends(viewer)) -> dict:
    try:
        with h.db.tx(write=False) as t:
            found = officers.propose(t, incident, h.config.dispatch)
    except TransitionError as exc:
        _fail(exc)
    return {"incident": incident, "speed_kmh": h.config.dispatch.speed_kmh, "eta": "straight line",
            "officers": found}


@router.post("/{incident}/dispatch")
def dispatch(incident: int, body: Dispatch, h: Hub = Depends(hub), u: User = Depends(dispatcher)) -> dict:
    try:
        with h.db.tx() as t:
            t.lock("dispatch")  # one officer, one task: dispatchers on two workers do not race
            task = officers.dispatch(t, h.key, incident, body.officer, f"user:{u.name}", body.note)
    except TransitionError as exc:
        _fail(exc)
    h.publish(f"{h.config.hub.prefix}/officer/{body.officer}/task", json.dumps(task).encode())
    return {"task": task}
