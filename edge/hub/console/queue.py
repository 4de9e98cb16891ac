"""The login page and the live incident queue: open incidents, overdue first then newest, filters by
node / rule / zone / state / date; the page refreshes its rows (an htmx fragment) on each SSE event."""

from __future__ import annotations

import time
from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from ..service import incidents as inc
from ..service.api.deps import User
from .web import can, fragment, hub_of, render, signed_in, unhandled

router = APIRouter(prefix="/console", include_in_schema=False)

ROWS = 200  # rows shown; the API pages through the rest


def _day(text: str | None) -> float | None:
    try:
        return datetime.fromisoformat(text).timestamp() if text else None
    except ValueError:
        return None


def rows(request: Request, node: str | None, rule: str | None, zone: str | None, state: str | None,
         day: str | None) -> tuple[list[dict], int]:
    """The queue's rows and how many match; `state` is a state, "open" (the default) or "all"."""
    h = hub_of(request)
    where, params = [], []
    state = state or "open"
    if state == "open":
        where.append(f"state IN ({', '.join('?' for _ in inc.OPEN)})")
        params += list(inc.OPEN)
    elif state in inc.STATES:
        where.append("state = ?")
        params.append(state)
    for column, value in (("node", node), ("rule", rule), ("zone", zone)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    start = _day(day)
    if start is not None:
        where += ["opened_at >= ?", "opened_at < ?"]
        params += [start, start + 86400]
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    now = time.time()
    with h.db.tx(write=False) as t:
        total = int(t.one(f"SELECT count(*) FROM incidents{clause}", params)[0])
        found = t.execute(f"{inc.SELECT}{clause} ORDER BY opened_at DESC, id DESC LIMIT ?", (*params, ROWS))
    items = [inc.as_dict(r, h.config.incidents, now) for r in found]
    items.sort(key=lambda i: (not (i["overdue"] and i["state"] in inc.OPEN), -i["opened_at"], -i["id"]))
    return items, total


def choices(request: Request) -> dict[str, list[str]]:
    h = hub_of(request)
    out = {}
    for column in ("node", "rule", "zone"):
        out[column] = [r[0] for r in h.db.query(f"SELECT DISTINCT {column} FROM incidents ORDER BY {column} LIMIT 200")]
    return out


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/console/") -> HTMLResponse:
    target = next if next.startswith("/console") else "/console/"
    return render(request, "login.html", None, next=target)


@router.get("/", response_class=HTMLResponse)
def queue_page(request: Request, node: str | None = None, rule: str | None = None, zone: str | None = None,
               state: str | None = None, day: str | None = None, u: User = Depends(signed_in)) -> HTMLResponse:
    items, total = rows(request, node, rule, zone, state, day)
    return render(request, "queue.html", u, items=items, total=total, choices=choices(request),
                  f={"node": node, "rule": rule, "zone": zone, "state": state or "open", "day": day},
                  states=inc.STATES, reasons=inc.DISMISS_REASONS, allowed=inc.ALLOWED)


@router.get("/queue/rows", response_class=HTMLResponse)
def queue_rows(request: Request, node: str | None = Query(None), rule: str | None = None, zone: str | None = None,
               state: str | None = None, day: str | None = None, u: User = Depends(signed_in)) -> HTMLResponse:
    items, total = rows(request, node, rule, zone, state, day)
    return fragment(request, "queue_rows.html", items=items, total=total, unhandled=unhandled(hub_of(request)),
                    is_dispatcher=can(u, "dispatcher"), allowed=inc.ALLOWED)
