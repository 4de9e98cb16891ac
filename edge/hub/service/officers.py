"""Officers and dispatch: where each officer is, who is nearest to an incident, the signed task to
the officer's device, and what the device reports back (accepted, on scene, done).

The ETA is straight-line distance over a configured speed ([dispatch] speed_kmh): no road network
is known to the hub, so it is a lower bound; the docs say so.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from datetime import UTC, datetime

from ...contract import OfficerPosition, OfficerTask, TaskState
from ...crypto import b64, canonical_json, sign
from .config import DispatchSection
from .db import Tx
from .events import emit
from .incidents import TransitionError, transition

EARTH_M = 6_371_000.0


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_M * math.asin(min(1.0, math.sqrt(a)))


def register(tx: Tx, officer: str, name: str, badge: str, device: str) -> None:
    tx.execute("INSERT INTO officers (id, name, badge, device, available) VALUES (?, ?, ?, ?, 1) "
               "ON CONFLICT (id) DO UPDATE SET name = excluded.name, badge = excluded.badge, device = excluded.device",
               (officer, name, badge, device))
    emit(tx, "officer", {"id": officer, "registered": True})


def record_position(tx: Tx, officer: str, p: OfficerPosition) -> bool:
    """False when the officer is not registered (the message is refused)."""
    if tx.one("SELECT 1 FROM officers WHERE id = ?", (officer,)) is None:
        return False
    at = datetime.fromisoformat(p.ts).timestamp() if p.ts else time.time()
    tx.execute("UPDATE officers SET lat = ?, lon = ?, position_at = ?, available = ? WHERE id = ? AND "
               "(position_at IS NULL OR position_at <= ?)", (p.lat, p.lon, at, int(p.available), officer, at))
    emit(tx, "officer", {"id": officer, "lat": p.lat, "lon": p.lon})
    return True


def busy(tx: Tx) -> set[str]:
    return {r[0] for r in tx.execute("SELECT officer FROM tasks WHERE state IN ('sent', 'accepted', 'on_scene')")}


def propose(tx: Tx, incident: int, config: DispatchSection, now: float | None = None) -> list[dict]:
    """The nearest available officers with a recent position, nearest first."""
    now = time.time() if now is None else now
    row = tx.one("SELECT lat, lon FROM incidents WHERE id = ?", (incident,))
    if row is None:
        raise TransitionError(f"no incident {incident}", 404)
    if row[0] is None:
        raise TransitionError(f"incident {incident} has no location (the node sent none and [[nodes]] has no "
                              "site for it)", 409)
    taken = busy(tx)
    out = []
    for oid, name, badge, lat, lon, at, available in tx.execute(
            "SELECT id, name, badge, lat, lon, position_at, available FROM officers WHERE lat IS NOT NULL"):
        if not available or oid in taken or now - at > config.position_max_age_s:
            continue
        d = distance_m(row[0], row[1], lat, lon)
        out.append({"officer": oid, "name": name, "badge": badge, "distance_m": round(d, 1),
                    "eta_s": round(d / (config.speed_kmh / 3.6), 1), "position_age_s": round(now - at, 1)})
    out.sort(key=lambda o: o["distance_m"])
    return out[:config.proposals]


def make_task(key, officer: str, incident: dict, note: str = "") -> dict:
    body = {"id": secrets.token_hex(8), "officer": officer, "incident": incident["id"], "node": incident["node"],
            "rule": incident["rule"], "kind": incident["kind"], "zone": incident["zone"], "lat": incident["lat"],
            "lon": incident["lon"], "issued_at": datetime.now(UTC).isoformat(timespec="milliseconds"), "note": note}
    body["sig"] = b64(sign(key, canonical_json(body)))
    return OfficerTask.model_validate(body).model_dump()


def dispatch(tx: Tx, key, incident: int, officer: str, actor: str, note: str = "") -> dict:
    """Record a task and move the incident to dispatched; the caller publishes the returned task."""
    row = tx.one("SELECT id, node, rule, kind, zone, lat, lon, state FROM incidents WHERE id = ?", (incident,))
    if row is None:
        raise TransitionError(f"no incident {incident}", 404)
    if tx.one("SELECT 1 FROM officers WHERE id = ?", (officer,)) is None:
        raise TransitionError(f"officer: no officer {officer!r}", 422)
    if officer in busy(tx):
        raise TransitionError(f"officer {officer} is on another task")
    inc = dict(zip(("id", "node", "rule", "kind", "zone", "lat", "lon", "state"), row, strict=True))
    transition(tx, incident, "dispatched", actor, f"to officer {officer}" + (f": {note}" if note else ""),
               officer=officer)
    task = make_task(key, officer, inc, note)
    tx.execute("INSERT INTO tasks (id, officer, incident, state, issued_by, issued_at, payload) VALUES "
               "(?, ?, ?, 'sent', ?, ?, ?)", (task["id"], officer, incident, actor, time.time(), json.dumps(task)))
    emit(tx, "task", {"id": task["id"], "officer": officer, "incident": incident, "state": "sent"})
    return task


def record_task_state(tx: Tx, officer: str, s: TaskState) -> str | None:
    """Apply what the device reports; a problem (one line) when the report is refused."""
    row = tx.one("SELECT incident, state FROM tasks WHERE id = ? AND officer = ?", (s.task, officer))
    if row is None:
        return f"no task {s.task!r} for this officer"
    incident, state = int(row[0]), row[1]
    order = ("sent", "accepted", "on_scene", "done")
    if state in ("done", "declined") or (s.state in order and order.index(s.state) <= order.index(state)):
        return None  # a repeat, or out of order after a later report: nothing new
    column = {"accepted": "accepted_at", "on_scene": "on_scene_at", "done": "done_at"}.get(s.state)
    at = time.time()
    tx.execute(f"UPDATE tasks SET state = ?{f', {column} = ?' if column else ''} WHERE id = ?",
               (s.state, at, s.task) if column else (s.state, s.task))
    actor = f"officer:{officer}"
    target = {"on_scene": "on_scene", "done": "resolved", "declined": "acknowledged"}.get(s.state)
    current = tx.one("SELECT state FROM incidents WHERE id = ?", (incident,))[0]
    try:
        if s.state == "done" and current == "dispatched":
            transition(tx, incident, "on_scene", actor, "arrived (reported with done)")
        if target and current != target:
            transition(tx, incident, target, actor, s.comment or f"task {s.task} {s.state}")
    except TransitionError as exc:
        return str(exc)
    emit(tx, "task", {"id": s.task, "officer": officer, "incident": incident, "state": s.state})
    return None
