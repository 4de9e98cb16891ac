"""Incidents: the lifecycle messages of one violation, and repeats of the same node/rule/zone within
a window, are one incident, which dispatchers move through its states.  Every transition is an
audit row (who, when, from -> to, comment) that is only ever inserted.

发现 new -> acknowledged -> 派单 dispatched -> 处置 on_scene -> 核查 resolved -> 结案 closed;
dismissed (a false alarm, with a reason code) from any open state.
"""

from __future__ import annotations

import time
from datetime import datetime

from .config import IncidentsSection
from .db import Tx
from .events import emit

STATES = ("new", "acknowledged", "dispatched", "on_scene", "resolved", "closed", "dismissed")
OPEN = ("new", "acknowledged", "dispatched", "on_scene")
DISMISS_REASONS = ("wrong_object", "authorised", "duplicate", "test", "other")

ALLOWED: dict[str, tuple[str, ...]] = {
    "new": ("acknowledged", "dispatched", "dismissed"),
    "acknowledged": ("dispatched", "resolved", "dismissed"),
    "dispatched": ("acknowledged", "on_scene", "resolved", "dismissed"),
    "on_scene": ("resolved", "dismissed"),
    "resolved": ("closed", "on_scene"),
    "closed": (),
    "dismissed": (),
}
# The time column each state sets the first time it is reached.
STAMP = {"acknowledged": "acknowledged_at", "dispatched": "dispatched_at", "on_scene": "on_scene_at",
         "resolved": "resolved_at", "closed": "closed_at", "dismissed": "closed_at"}

COLUMNS = ("id", "node", "rule", "kind", "zone", "state", "level", "opened_at", "last_seen", "messages",
           "violations", "lat", "lon", "evidence", "acknowledged_at", "dispatched_at", "on_scene_at",
           "resolved_at", "closed_at", "dismiss_reason", "officer", "updated")
SELECT = f"SELECT {', '.join(COLUMNS)} FROM incidents"


class TransitionError(Exception):
    """A transition that is not allowed; `status` is the HTTP answer it deserves."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.status = status


def epoch(text: str | None, default: float) -> float:
    if not text:
        return default
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return default


def transition(tx: Tx, incident: int, to: str, actor: str, comment: str = "", *, reason: str | None = None,
               officer: str | None = None) -> dict:
    """Move an incident to `to`, with its audit row; TransitionError if the state machine forbids it."""
    if to not in STATES:
        raise TransitionError(f"state: unknown state {to!r} (one of {', '.join(STATES)})", 422)
    row = tx.one("SELECT state FROM incidents WHERE id = ?", (incident,))
    if row is None:
        raise TransitionError(f"no incident {incident}", 404)
    current = row[0]
    if to not in ALLOWED[current]:
        raise TransitionError(f"incident {incident} is {current}; it cannot become {to}")
    if to == "dismissed" and reason not in DISMISS_REASONS:
        raise TransitionError(f"reason: dismissing needs one of {', '.join(DISMISS_REASONS)}", 422)
    now = time.time()
    stamp = STAMP.get(to)
    sets = ["state = ?", "updated = ?"]
    params: list = [to, now]
    if stamp:
        sets.append(f"{stamp} = COALESCE({stamp}, ?)")
        params.append(now)
    if reason:
        sets.append("dismiss_reason = ?")
        params.append(reason)
    if officer:
        sets.append("officer = ?")
        params.append(officer)
    tx.execute(f"UPDATE incidents SET {', '.join(sets)} WHERE id = ?", (*params, incident))
    text = comment if not reason else f"[{reason}] {comment}".strip()
    tx.execute("INSERT INTO audit (incident, at, actor, from_state, to_state, comment) VALUES (?, ?, ?, ?, ?, ?)",
               (incident, now, actor, current, to, text))
    emit(tx, "incident", {"id": incident, "state": to, "from": current, "actor": actor})
    return {"id": incident, "from": current, "to": to, "at": now}


def as_dict(row: tuple, config: IncidentsSection, now: float | None = None) -> dict:
    out = dict(zip(COLUMNS, row, strict=True))
    out["id"] = int(out["id"])
    out["targets"] = targets(out, config, now)
    out["overdue"] = any(t["overdue"] for t in out["targets"].values())
    return out


def targets(incident: dict, config: IncidentsSection, now: float | None = None) -> dict:
    """Each time target: its limit, the time taken (or elapsed so far), met / overdue."""
    now = time.time() if now is None else now
    t = config.targets_for(incident["rule"])
    out = {}
    finished = incident["state"] == "dismissed" or incident["state"] in ("resolved", "closed")
    for name, limit, column in (("acknowledge", t.acknowledge_s, "acknowledged_at"),
                                ("dispatch", t.dispatch_s, "dispatched_at"),
                                ("on_scene", t.on_scene_s, "on_scene_at")):
        reached = incident.get(column)
        if name == "acknowledge" and reached is None:
            reached = incident.get("dispatched_at")  # dispatching at once acknowledges too
        if reached is not None:
            taken = reached - incident["opened_at"]
            out[name] = {"target_s": limit, "taken_s": round(taken, 3), "met": taken <= limit,
                         "overdue": taken > limit}
        elif incident["state"] == "dismissed" or finished:
            out[name] = {"target_s": limit, "taken_s": None, "met": None, "overdue": False}
        else:
            elapsed = now - incident["opened_at"]
            out[name] = {"target_s": limit, "taken_s": None, "elapsed_s": round(elapsed, 3), "met": None,
                         "overdue": elapsed > limit}
    return out


def audit(tx: Tx, incident: int) -> list[dict]:
    return [{"id": int(i), "at": at, "actor": actor, "from": f, "to": to, "comment": c}
            for i, at, actor, f, to, c in
            tx.execute("SELECT id, at, actor, from_state, to_state, comment FROM audit WHERE incident = ? ORDER BY id",
                       (incident,))]
