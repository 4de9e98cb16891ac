"""What every route needs: the service's parts, the signed-in user and role, the CSRF check."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Depends, HTTPException, Request

from .. import auth
from ..config import HubConfig
from ..db import Database

SESSION_COOKIE = "edge_session"
CSRF_COOKIE = "edge_csrf"
CSRF_HEADER = "x-csrf-token"


@dataclass
class Hub:
    """The parts the routes use; built by the service (or a test) and put on app.state.hub."""

    db: Database
    config: HubConfig
    key: object  # the hub's Ed25519 private key (commands, tasks)
    publish: object  # (topic, payload) -> None
    evidence_root: object  # Path of the evidence folder `edge-hub receive` writes
    limiter: auth.RateLimit = field(default_factory=lambda: auth.RateLimit(5))
    counters: object = None  # () -> dict of live figures, for /api/health


@dataclass(frozen=True)
class User:
    name: str
    role: str
    csrf: str


def hub(request: Request) -> Hub:
    return request.app.state.hub


def user(request: Request, h: Hub = Depends(hub)) -> User:
    token = request.cookies.get(SESSION_COOKIE)
    found = auth.session(h.db, token) if token else None
    if found is None:
        raise HTTPException(401, "not signed in (POST /api/login)")
    u = User(*found)
    if request.method not in ("GET", "HEAD", "OPTIONS") and request.headers.get(CSRF_HEADER) != u.csrf:
        raise HTTPException(403, f"CSRF token missing or wrong: send the {CSRF_COOKIE} cookie's value in "
                                 "the X-CSRF-Token header")
    return u


def role(minimum: str):
    def check(u: User = Depends(user)) -> User:
        if auth.RANK[u.role] < auth.RANK[minimum]:
            raise HTTPException(403, f"needs the {minimum} role (you are {u.role})")
        return u
    return check


viewer = role("viewer")
dispatcher = role("dispatcher")
admin = role("admin")
