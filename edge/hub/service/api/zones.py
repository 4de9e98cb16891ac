"""The zone editor's back end: the node profiles the hub holds ([console] profiles/NODE.toml), a new
profile with edited [[zones]] (validated exactly as the node validates a config command), the signed
`config` command, the audit row, and the node's answer.

The hub's copy is replaced only once the node has applied the new profile: until then it waits
beside it as NODE.toml.pending (with the command id), so a refused change never becomes the copy."""

from __future__ import annotations

import json
import re
import time
import tomllib
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from ....config.profile import ConfigError, load_profile
from ....contract.messages import ConfigArgs
from ....util import write_atomic
from .. import commands
from .deps import Hub, User, admin, hub, viewer

router = APIRouter(prefix="/api/nodes", tags=["nodes"])

#: Audit rows about a node rather than an incident carry incident 0.
NODE_AUDIT = 0
_HEADER = re.compile(r"^\s*\[")
_ZONES = re.compile(r"^\s*\[\[\s*zones\s*\]\]\s*(#.*)?$")


class ZoneShape(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    polygon: list[tuple[float, float]] = Field(min_length=1, max_length=64)


class ZonesEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    zones: list[ZoneShape] = Field(max_length=32)


def profile_path(h: Hub, node: str) -> Path:
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", node) or node.startswith("."):
        raise HTTPException(422, f"node: {node!r} is not a node id")
    return h.config.path(h.config.console.profiles) / f"{node}.toml"


def current_zones(h: Hub, node: str) -> list[dict] | None:
    path = profile_path(h, node)
    if not path.is_file():
        return None
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return [z for z in data.get("zones", []) if z.get("polygon")]


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(round(v, 4) if isinstance(v, float) else v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise ValueError(f"cannot write {type(v).__name__} in a zone")


def with_zones(text: str, zones: list[dict]) -> str:
    """The profile text with its [[zones]] tables replaced by `zones`; every other line kept."""
    kept, skipping = [], False
    for line in text.splitlines():
        if _ZONES.match(line):
            skipping = True
            continue
        if skipping and _HEADER.match(line):
            skipping = False
        if not skipping:
            kept.append(line)
    out = "\n".join(kept).rstrip() + "\n"
    for z in zones:
        out += "\n[[zones]]\n" + "".join(f"{k} = {_value(v)}\n" for k, v in z.items())
    return out


@router.get("/{node}/zones")
def zones(node: str, h: Hub = Depends(hub), u: User = Depends(viewer)) -> dict:
    found = current_zones(h, node)
    if found is None:
        raise HTTPException(404, f"no profile of {node} at the hub ([console] profiles/{node}.toml)")
    return {"node": node, "zones": found}


@router.post("/{node}/zones")
def edit(node: str, body: ZonesEdit, h: Hub = Depends(hub), u: User = Depends(admin)) -> dict:
    path = profile_path(h, node)
    if not path.is_file():
        raise HTTPException(404, f"no profile of {node} at the hub ([console] profiles/{node}.toml)")
    text = path.read_text(encoding="utf-8")
    old = {z["name"]: z for z in tomllib.loads(text).get("zones", [])}
    new_zones = [{**{k: v for k, v in old.get(z.name, {}).items() if k != "polygon"}, "name": z.name,
                  "polygon": [[round(x, 4), round(y, 4)] for x, y in z.polygon]} for z in body.zones]
    new_text = with_zones(text, new_zones)
    try:
        profile = load_profile(path, text=new_text, check_files=False)  # as the node checks a config command
    except ConfigError as exc:
        raise HTTPException(422, "invalid profile, nothing sent: "
                            + "; ".join(str(p) for p in exc.problems[:5])) from None
    if profile.node.id != node:
        raise HTTPException(422, f"node.id: the profile is {profile.node.id!r}, not {node!r}")
    with h.db.tx() as t:
        if not t.one("SELECT 1 FROM nodes WHERE node = ?", (node,)):
            raise HTTPException(404, f"no node {node} (it has never reported)")
        envelope = commands.issue(t, h.key, node, "config", ConfigArgs(toml=new_text), f"user:{u.name}")
        summary = ", ".join(f"{z['name']} ({len(z['polygon'])} points)" for z in new_zones) or "none"
        t.execute("INSERT INTO audit (incident, at, actor, from_state, to_state, comment) VALUES (?, ?, ?, ?, ?, ?)",
                  (NODE_AUDIT, time.time(), f"user:{u.name}", None, "config",
                   f"zones of {node}: {summary} (command {envelope['id']})"))
    pending = path.with_name(path.name + ".pending")
    pending.write_text(json.dumps({"command": envelope["id"], "toml": new_text}), encoding="utf-8")
    h.publish(f"{h.config.hub.prefix}/{node}/cmd/config", json.dumps(envelope).encode())
    return {"command": envelope["id"], "zones": new_zones}


@router.get("/{node}/zones/{command}")
def answer(node: str, command: str, h: Hub = Depends(hub), u: User = Depends(viewer)) -> dict:
    """The node's answer to a zone change; once it applied the profile, the hub's copy becomes it."""
    rows = h.db.query(f"SELECT {', '.join(commands.COLUMNS)} FROM commands WHERE id = ? AND node = ?", (command, node))
    if not rows:
        raise HTTPException(404, f"no command {command} to {node}")
    out = commands.as_dict(rows[0])
    path = profile_path(h, node)
    pending = path.with_name(path.name + ".pending")
    if out["state"] == "done" and out["ok"] and pending.is_file():
        waiting = json.loads(pending.read_text(encoding="utf-8"))
        if waiting.get("command") == command:
            write_atomic(path, waiting["toml"])
            pending.unlink()
    return {"command": command, "state": out["state"], "ok": out["ok"], "error": out["error"], "data": out["data"]}
