"""The admin page: users (add, new password and role) and officers (register); the forms act
through the JSON API (POST /api/users, /api/officers), which checks the admin role again."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ..service import auth
from ..service.api.deps import User
from .web import Redirect, can, hub_of, render, signed_in

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/admin", response_class=HTMLResponse)
def page(request: Request, u: User = Depends(signed_in)) -> HTMLResponse:
    if not can(u, "admin"):
        raise Redirect()
    h = hub_of(request)
    officers = [dict(zip(("id", "name", "badge", "device"), r, strict=True))
                for r in h.db.query("SELECT id, name, badge, device FROM officers ORDER BY id")]
    return render(request, "admin.html", u, users=auth.list_users(h.db), officers=officers, roles=auth.ROLES)
