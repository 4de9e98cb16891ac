"""The map: nodes (online / offline / degraded), open incidents and officers, live.  Offline: the
base is the site outlines of [console] sites (GeoJSON), or a local tile folder ([console] tiles,
served here); nothing is fetched from the internet."""

from __future__ import annotations

import json
import logging
import time

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from ..service import incidents as inc
from ..service.api.deps import User
from .tiles import TileError, read_tile
from .web import hub_of, render, signed_in

log = logging.getLogger("edge.hub.console")

router = APIRouter(prefix="/console", include_in_schema=False)

#: A node whose last stats are older than this is shown degraded (it is online but not reporting).
STALE_S = 120.0


def node_state(state: str | None, status: dict | None, stats: dict | None, stats_at: float | None,
               now: float) -> str:
    if state != "online":
        return "offline"
    if (status or {}).get("evidence_degraded") or (stats or {}).get("healthy") is False:
        return "degraded"
    if stats_at is not None and now - stats_at > STALE_S:
        return "degraded"
    return "online"


def map_data(request: Request) -> dict:
    h = hub_of(request)
    now = time.time()
    sites = {s.id: s for s in h.config.nodes}
    nodes = []
    for node, state, status, stats, stats_at, lat, lon in h.db.query(
            "SELECT node, state, status, stats, stats_at, lat, lon FROM nodes ORDER BY node"):
        site = sites.get(node)
        lat, lon = (lat, lon) if lat is not None else ((site.lat, site.lon) if site else (None, None))
        if lat is None:
            continue
        nodes.append({"id": node, "lat": lat, "lon": lon, "name": site.name if site else node,
                      "state": node_state(state, json.loads(status) if status else None,
                                          json.loads(stats) if stats else None, stats_at, now)})
    marks = ", ".join("?" for _ in inc.OPEN)
    incidents = [{"id": int(i), "node": n, "rule": r, "state": s, "lat": la, "lon": lo}
                 for i, n, r, s, la, lo in h.db.query(
                     f"SELECT id, node, rule, state, lat, lon FROM incidents WHERE state IN ({marks}) AND lat IS NOT "
                     "NULL ORDER BY opened_at DESC LIMIT 500", inc.OPEN)]
    officers = [{"id": o, "name": n, "lat": la, "lon": lo, "at": at}
                for o, n, la, lo, at in h.db.query("SELECT id, name, lat, lon, position_at FROM officers WHERE lat IS "
                                                   "NOT NULL ORDER BY id")]
    return {"nodes": nodes, "incidents": incidents, "officers": officers}


def _sites(request: Request) -> dict:
    c = hub_of(request).config
    if not c.console.sites:
        return {"type": "FeatureCollection", "features": []}
    try:
        return json.loads(c.path(c.console.sites).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HTTPException(500, f"console.sites: cannot read {c.console.sites}: {exc}") from None


@router.get("/map", response_class=HTMLResponse)
def page(request: Request, u: User = Depends(signed_in)) -> HTMLResponse:
    c = hub_of(request).config
    return render(request, "map.html", u, tiles=bool(c.console.tiles), max_zoom=c.console.tiles_max_zoom)


@router.get("/map/data")
def data(request: Request, u: User = Depends(signed_in)) -> JSONResponse:
    return JSONResponse(map_data(request), headers={"Cache-Control": "no-store"})


@router.get("/map/sites.geojson")
def sites(request: Request, u: User = Depends(signed_in)) -> JSONResponse:
    return JSONResponse(_sites(request))


@router.get("/tiles/{z}/{x}/{y}.png")
def tile(request: Request, z: int, x: int, y: int, u: User = Depends(signed_in)) -> Response:
    c = hub_of(request).config
    if not c.console.tiles:
        raise HTTPException(404, "no local tiles ([console] tiles)")
    try:
        found = read_tile(c.path(c.console.tiles), z, x, y)
    except TileError as exc:
        log.error("map tiles: %s", exc)
        raise HTTPException(503, str(exc)) from None
    if found is None:
        raise HTTPException(404, f"no tile {z}/{x}/{y}")
    data, media = found
    return Response(data, media_type=media, headers={"Cache-Control": "max-age=86400"})
