"""The incident page: snapshots (annotated and clean), the clip (played from the evidence API with
HTTP Range), the timeline of lifecycle messages and audit rows, the verification badge from the
hub's own check, and the actions (speak, snapshot now, dispatch, transitions, export)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ..service import evidence as ev
from ..service import incidents as inc
from ..service import officers
from ..service.api.deps import User
from ..service.api.evidence import _keys
from ..service.api.incidents import detail
from ..service.incidents import TransitionError
from .web import can, fragment, hub_of, render, signed_in

router = APIRouter(prefix="/console/incidents", include_in_schema=False)


def evidence_files(request: Request, found: dict) -> list[dict]:
    """Each bundle's files with their kind and URL, from its manifest as received."""
    h = hub_of(request)
    out = []
    for b in found["evidence"]:
        v = ev.verification(h.evidence_root, _keys(h), b["node"], b["bundle"]) or {}
        for f in (v.get("manifest") or {}).get("files", []):
            name = f["name"]
            out.append({"bundle": b["bundle"], "name": name, "kind": f.get("kind"),
                        "annotated": bool(f.get("annotated")) or name.endswith("_annotated.jpg"),
                        "url": f"/api/evidence/{b['node']}/{b['bundle']}/files/{name}"})
    return out


def timeline(found: dict) -> list[dict]:
    """Lifecycle messages (warning -> alert -> cleared, with their objects), audit rows and commands,
    in time order."""
    items = []
    for m in found["messages"]:
        items.append({"at": inc.epoch(m.get("ts"), found["opened_at"]), "kind": "message", "stage": m.get("stage"),
                      "objects": m.get("objects") or [], "basis": m.get("basis"), "id": m.get("id")})
    for a in found["audit"]:
        items.append({"at": a["at"], "kind": "audit", **a})
    return sorted(items, key=lambda i: i["at"])


def live_context(request: Request, incident: int, u: User) -> dict:
    h = hub_of(request)
    found = detail(incident, h, u)  # 404 for an unknown incident
    basis = next((m.get("basis") for m in reversed(found["messages"]) if m.get("basis")), None)
    proposals: list[dict] = []
    if can(u, "dispatcher") and found["state"] in ("new", "acknowledged"):
        try:
            with h.db.tx(write=False) as t:
                proposals = officers.propose(t, incident, h.config.dispatch)
        except TransitionError:
            proposals = []
    nexts = [s for s in inc.ALLOWED[found["state"]] if s != "dispatched"]
    return {"i": found, "basis": basis, "timeline": timeline(found), "proposals": proposals, "nexts": nexts,
            "reasons": inc.DISMISS_REASONS, "is_dispatcher": can(u, "dispatcher"),
            "clips": h.config.console.clips, "speed_kmh": h.config.dispatch.speed_kmh}


@router.get("/{incident}", response_class=HTMLResponse)
def page(request: Request, incident: int, u: User = Depends(signed_in)) -> HTMLResponse:
    ctx = live_context(request, incident, u)
    return render(request, "incident.html", u, files=evidence_files(request, ctx["i"]), **ctx)


@router.get("/{incident}/live", response_class=HTMLResponse)
def live(request: Request, incident: int, u: User = Depends(signed_in)) -> HTMLResponse:
    return fragment(request, "incident_live.html", **live_context(request, incident, u))


@router.get("/{incident}/badge", response_class=HTMLResponse)
def badge(request: Request, incident: int, u: User = Depends(signed_in)) -> HTMLResponse:
    """The hub's check of every bundle of the incident, made again on each request."""
    h = hub_of(request)
    found = detail(incident, h, u)
    checks = [ev.verification(h.evidence_root, _keys(h), b["node"], b["bundle"]) for b in found["evidence"]]
    checks = [c for c in checks if c]
    if not checks:
        verdict = "unverified"
    elif all(c["verified"] for c in checks):
        verdict = "verified"
    else:
        verdict = "tampered" if any(c.get("manifest") for c in checks) else "unverified"
    return fragment(request, "badge.html", verdict=verdict, checks=checks)
