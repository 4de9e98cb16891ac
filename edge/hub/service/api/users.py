"""Users, managed by an admin from the console: list, add, new password and role (which ends the
user's sessions).  The same rules as `edge-hub user` (edge/hub/service/auth.py); passwords are only
ever stored as argon2 hashes and never returned."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from .. import auth
from .deps import Hub, User, admin, hub

router = APIRouter(prefix="/api/users", tags=["users"])

Role = Literal["viewer", "dispatcher", "admin"]


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=auth.MIN_PASSWORD, max_length=1024)
    role: Role


class Reset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str = Field(min_length=auth.MIN_PASSWORD, max_length=1024)
    role: Role | None = None


@router.get("")
def users(h: Hub = Depends(hub), u: User = Depends(admin)) -> dict:
    return {"items": [{"name": n, "role": r, "created": c} for n, r, c in auth.list_users(h.db)]}


@router.post("")
def add(body: NewUser, h: Hub = Depends(hub), u: User = Depends(admin)) -> dict:
    try:
        auth.add_user(h.db, body.name, body.password, body.role)
    except auth.AuthError as exc:
        raise HTTPException(409 if "exists" in str(exc) else 422, str(exc)) from None
    return {"name": body.name, "role": body.role}


@router.post("/{name}")
def reset(name: str, body: Reset, h: Hub = Depends(hub), u: User = Depends(admin)) -> dict:
    if name == u.name and body.role not in (None, "admin"):
        raise HTTPException(422, "role: an admin cannot take the admin role from themselves")
    try:
        auth.set_password(h.db, name, body.password, body.role)
    except auth.AuthError as exc:
        raise HTTPException(404 if "no user" in str(exc) else 422, str(exc)) from None
    return {"name": name, "sessions": "closed"}
