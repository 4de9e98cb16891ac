"""Storing a batch of lifecycle messages in one transaction, in a fixed number of statements.

A message already stored (same id and stage) is skipped; a new one joins the incident of its
violation, or an open incident of the same node/rule/zone seen within the window, or opens one.
The (node, rule, zone) locks are taken first, all at once and in one order, so workers sharing a
subscription neither store a message twice nor split an incident, and never deadlock.  Statements
are set-based (a few per batch, not several per message): that is what makes a PostgreSQL worker
fast, where every statement is a round trip.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from .config import IncidentsSection
from .db import Tx
from .events import FEED_LOCK
from .incidents import OPEN, epoch

RAW = "\0raw"  # the payload text as received, put there by ingest (edge.hub.service.ingest.RAW)


@dataclass
class _Incident:
    id: int | None  # None until inserted
    key: tuple[str, str, str]
    last_seen: float
    first: dict | None = None  # the message that opened it (new incidents)
    messages: int = 0
    violations: int = 0
    level: str = "warning"
    lat: float | None = None
    lon: float | None = None
    evidence: str | None = None
    touched: bool = False
    events: list = field(default_factory=list)


def _marks(n: int) -> str:
    return ", ".join("?" for _ in range(n))


INSERT_INCIDENT = ("INSERT INTO incidents (node, rule, kind, zone, state, level, opened_at, last_seen, messages, "
                   "violations, lat, lon, evidence, updated) ")


def _insert_incidents(t: Tx, new: list[_Incident], now: float) -> None:
    """Insert the new incidents and learn their ids: on PostgreSQL one statement per round, a round
    holding at most one new incident per (node, rule, zone), which is how RETURNING rows are matched."""
    if not t.postgres:
        for inc in new:
            m = inc.first
            inc.id = int(t.one(INSERT_INCIDENT + "VALUES (?, ?, ?, ?, 'new', ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                               (m["node"], m["rule"], m["kind"], m["zone"], inc.level, now, inc.last_seen, inc.messages,
                                inc.violations, inc.lat, inc.lon, inc.evidence, now))[0])
        return
    pending = list(new)
    while pending:
        round_, later, keys = [], [], set()
        for inc in pending:
            (later if inc.key in keys else round_).append(inc)
            keys.add(inc.key)
        cols = list(zip(*[(i.first["node"], i.first["rule"], i.first["kind"], i.first["zone"], i.level, i.last_seen,
                           i.messages, i.violations, i.lat, i.lon, i.evidence) for i in round_], strict=True))
        rows = t.execute(INSERT_INCIDENT + "SELECT n, r, k, z, 'new', l, ?, ls, mc, vc, la, lo, ev, ? FROM unnest("
                         "?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::float8[], ?::int[], ?::int[], "
                         "?::float8[], ?::float8[], ?::text[]) AS u(n, r, k, z, l, ls, mc, vc, la, lo, ev) "
                         "RETURNING id, node, rule, zone", [now, now, *(list(c) for c in cols)])
        ids = {(n, r, z): int(i) for i, n, r, z in rows}
        for inc in round_:
            inc.id = ids[inc.key]
        pending = later


UPDATE_SET = ("last_seen = CASE WHEN i.last_seen < u.ls THEN u.ls ELSE i.last_seen END, messages = i.messages + u.mc, "
              "violations = i.violations + u.vc, level = CASE WHEN u.l = 'alert' THEN 'alert' ELSE i.level END, "
              "lat = COALESCE(i.lat, u.la), lon = COALESCE(i.lon, u.lo), evidence = COALESCE(u.ev, i.evidence), "
              "updated = ?")


def _update_incidents(t: Tx, touched: list[_Incident], now: float) -> None:
    rows = [(i.id, i.last_seen, i.messages, i.violations, i.level, i.lat, i.lon, i.evidence) for i in touched]
    if not rows:
        return
    if t.postgres:
        cols = [list(c) for c in zip(*rows, strict=True)]
        t.execute(f"UPDATE incidents AS i SET {UPDATE_SET} FROM unnest(?::int8[], ?::float8[], ?::int[], ?::int[], "
                  "?::text[], ?::float8[], ?::float8[], ?::text[]) AS u(id, ls, mc, vc, l, la, lo, ev) WHERE i.id = u.id",
                  [now, *cols])
        return
    t.executemany(
        "UPDATE incidents SET last_seen = CASE WHEN last_seen < ?2 THEN ?2 ELSE last_seen END, messages = messages + ?3, "
        "violations = violations + ?4, level = CASE WHEN ?5 = 'alert' THEN 'alert' ELSE level END, "
        "lat = COALESCE(lat, ?6), lon = COALESCE(lon, ?7), evidence = COALESCE(?8, evidence), updated = ?9 "
        "WHERE id = ?1", [(*r, now) for r in rows])


def store_alerts(t: Tx, messages: list[dict], config: IncidentsSection, sites: dict[str, tuple[float, float]],
                 known_nodes: set[str]) -> tuple[int, int]:
    """Store what is new in `messages`; (stored, duplicates).  `known_nodes`: nodes already in the
    nodes table (the caller's cache)."""
    now = time.time()
    unique: dict[tuple[str, str], dict] = {}
    for m in messages:
        unique.setdefault((m["id"], m["stage"]), m)
    batch = sorted(unique.values(), key=lambda m: (m["node"], m["rule"], m["zone"]))
    keys = sorted({(m["node"], m["rule"], m["zone"]) for m in batch})
    t.lock_many(["/".join(k) for k in keys])
    where, params = t.among("id", sorted({m["id"] for m in batch}))
    stored = set(t.execute(f"SELECT id, stage FROM messages WHERE {where}", params))
    fresh = [m for m in batch if (m["id"], m["stage"]) not in stored]
    if not fresh:
        return 0, len(messages)
    where, params = t.among("id", sorted({m["id"] for m in fresh}))
    known: dict[str, _Incident | int] = {v: int(i) for v, i in t.execute(
        f"SELECT id, incident FROM violations WHERE {where}", params)}
    fresh_keys = sorted({(m["node"], m["rule"], m["zone"]) for m in fresh})
    if t.postgres:
        among_keys = "(SELECT * FROM unnest(?::text[], ?::text[], ?::text[]))"
        key_params = [[k[0] for k in fresh_keys], [k[1] for k in fresh_keys], [k[2] for k in fresh_keys]]
    else:
        among_keys = f"(VALUES {', '.join('(?, ?, ?)' for _ in fresh_keys)})"
        key_params = [v for k in fresh_keys for v in k]
    rows = t.execute(
        f"SELECT id, node, rule, zone, last_seen FROM incidents WHERE state IN ({_marks(len(OPEN))}) AND "
        f"(node, rule, zone) IN {among_keys}", [*OPEN, *key_params])
    incidents: dict[int, _Incident] = {}
    latest: dict[tuple[str, str, str], _Incident] = {}
    for iid, node, rule, zone, last_seen in rows:
        inc = incidents.setdefault(int(iid), _Incident(int(iid), (node, rule, zone), last_seen))
        if (node, rule, zone) not in latest or latest[(node, rule, zone)].last_seen < last_seen:
            latest[(node, rule, zone)] = inc
    new: list[_Incident] = []
    placed: list[tuple[dict, _Incident]] = []
    new_violations: list[tuple[str, str, _Incident]] = []
    for m in fresh:
        key = (m["node"], m["rule"], m["zone"])
        seen = epoch(m.get("ts"), now)
        target = known.get(m["id"])
        new_violation = target is None
        if isinstance(target, int):
            target = incidents.get(target) or incidents.setdefault(target, _Incident(target, key, seen))
        if target is None:
            candidate = latest.get(key)
            if candidate is not None and candidate.last_seen >= epoch(m.get("started_at"), seen) - config.group_window_s:
                target = candidate
            else:
                target = _Incident(None, key, seen, first=m)
                new.append(target)
                latest[key] = target
            known[m["id"]] = target
            new_violations.append((m["id"], m["node"], target))
        target.touched = True
        target.messages += 1
        target.violations += int(new_violation)
        target.last_seen = max(target.last_seen, seen)
        if m["stage"] == "alert":
            target.level = "alert"
        loc = m.get("location") or {}
        lat, lon = (loc.get("lat"), loc.get("lon")) if loc.get("lat") is not None else sites.get(m["node"], (None, None))
        if target.lat is None:
            target.lat, target.lon = lat, lon
        target.evidence = m.get("evidence") or target.evidence
        placed.append((m, target))
    _insert_incidents(t, new, now)
    t.insert_many("audit", ("incident", "at", "actor", "from_state", "to_state", "comment"),
                  [(inc.id, now, f"node:{inc.first['node']}", None, "new", f"{inc.first['stage']} {inc.first['id']}")
                   for inc in new])
    _update_incidents(t, [i for i in incidents.values() if i.touched], now)
    t.insert_many("violations", ("id", "node", "incident"), [(v, n, inc.id) for v, n, inc in new_violations])
    t.insert_many("messages", ("id", "stage", "node", "rule", "kind", "zone", "ts", "incident", "payload", "received"),
                  [(m["id"], m["stage"], m["node"], m["rule"], m["kind"], m["zone"], m["ts"], inc.id,
                    m.get(RAW) or json.dumps(m, ensure_ascii=False), now) for m, inc in placed])
    nodes = sorted({m["node"] for m in fresh} - known_nodes)
    known_nodes.update(nodes)
    t.insert_many("nodes", ("node", "lat", "lon"), [(n, *sites.get(n, (None, None))) for n in nodes],
                  suffix="ON CONFLICT (node) DO NOTHING")
    opened = {id(i) for i in new}
    firsts = {id(i): i.first["id"] for i in new}
    t.lock(FEED_LOCK)  # last: held until the commit (edge.hub.service.events)
    t.changed = True
    t.insert_many("events", ("at", "kind", "data"), [
        (now, "incident", json.dumps({"id": inc.id, "created": id(inc) in opened and firsts[id(inc)] == m["id"]
                                      and m is inc.first, "node": m["node"], "stage": m["stage"],
                                      "violation": m["id"]}, separators=(",", ":")))
        for m, inc in placed])
    return len(placed), len(messages) - len(placed)
