"""POST /api/login, POST /api/logout, GET /api/me."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from .. import auth
from .deps import CSRF_COOKIE, SESSION_COOKIE, Hub, User, hub, user

router = APIRouter(prefix="/api", tags=["session"])


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


@router.post("/login")
def login(body: Login, request: Request, response: Response, h: Hub = Depends(hub)) -> dict:
    client = request.client.host if request.client else "?"
    if not h.limiter.allow(f"user:{body.username}", f"addr:{client}"):
        raise HTTPException(429, "too many login attempts; wait a minute",
                            headers={"Retry-After": str(h.limiter.retry_after(f"user:{body.username}"))})
    role = auth.authenticate(h.db, body.username, body.password)
    if role is None:
        raise HTTPException(401, "wrong user name or password")
    token, csrf = auth.open_session(h.db, body.username, h.config.api.session_ttl_s)
    secure = request.url.scheme == "https"
    ttl = int(h.config.api.session_ttl_s)
    response.set_cookie(SESSION_COOKIE, token, max_age=ttl, httponly=True, samesite="strict", secure=secure,
                        path="/")
    response.set_cookie(CSRF_COOKIE, csrf, max_age=ttl, httponly=False, samesite="strict", secure=secure, path="/")
    return {"user": body.username, "role": role, "csrf": csrf}


@router.post("/logout")
def logout(request: Request, response: Response, u: User = Depends(user), h: Hub = Depends(hub)) -> dict:
    auth.close_session(h.db, request.cookies.get(SESSION_COOKIE, ""))
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return {"ok": True}


@router.get("/me")
def me(u: User = Depends(user)) -> dict:
    return {"user": u.name, "role": u.role}
