"""Ingest: every message from the nodes and the officers' devices, stored once, then acknowledged.

Lifecycle messages are taken in batches, one transaction each: a message already stored (same id
and stage: a redelivery) is not stored again, a new one joins or opens its incident.  After the
commit the hub publishes the end-to-end receipt (edge.contract.receipt) to each node and only then
acknowledges the messages to the broker.  A malformed or unauthorised message is counted, logged
once per source per minute, never stored, and acknowledged (a redelivery would not make it better).
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict

from pydantic import ValidationError

from ...contract import CmdResult, LifecycleMessage, OfficerPosition, Stats, Status, TaskState
from ...contract.errors import field_error
from ..receipts import ReceiptBatcher
from .alerts import RAW, store_alerts
from .config import HubConfig
from .db import Database, Tx
from .events import emit
from .mqtt import Inbound

log = logging.getLogger("edge.hub.ingest")


class BadInput:
    """Counts refused messages; one log line per source and reason per minute."""

    def __init__(self, every_s: float = 60.0):
        self.counts: dict[str, int] = defaultdict(int)
        self.total = 0
        self._logged: dict[str, float] = {}
        self.every_s = every_s

    def __call__(self, source: str, reason: str) -> None:
        self.total += 1
        self.counts[source] += 1
        now = time.monotonic()
        if now - self._logged.get(source, -1e9) >= self.every_s:
            self._logged[source] = now
            log.warning("refused a message from %s: %s (%d refused from it so far)", source, reason[:200],
                        self.counts[source])


def _one_line(exc: ValidationError) -> str:
    return field_error(exc)


def _fields(m: LifecycleMessage, text: str) -> dict:
    """What storing a lifecycle message needs of it, and its text as it came (stored, not re-encoded)."""
    loc = m.location
    return {"id": m.id, "node": m.node, "rule": m.rule, "kind": m.kind, "stage": m.stage, "zone": m.zone, "ts": m.ts,
            "started_at": m.started_at, "evidence": m.evidence,
            "location": {"lat": loc.lat, "lon": loc.lon} if loc is not None else None, RAW: text}


class Ingest:
    def __init__(self, db: Database, config: HubConfig, publish, bad: BadInput | None = None):
        self.db = db
        self.config = config
        self.prefix = config.hub.prefix
        self.publish = publish  # (topic, payload) -> None
        self.bad = bad or BadInput()
        self.sites = {n.id: (n.lat, n.lon) for n in config.nodes}
        self.stored = 0
        self.duplicates = 0
        self._nodes: set[str] = set()  # known to be in the nodes table

    def subscriptions(self) -> list[tuple[str, int]]:
        p, group = self.prefix, self.config.broker.share_group
        shared = [f"{p}/+/alert", f"{p}/+/cmd_result", f"{p}/officer/+/position", f"{p}/officer/+/task_state"]
        if group:
            shared = [f"$share/{group}/{t}" for t in shared]
        # Retained status is never sent on a shared subscription: every worker reads it (upserts).
        return [(t, 1) for t in shared] + [(f"{p}/+/status", 1), (f"{p}/+/stats", 0)]

    # --- one batch ---------------------------------------------------------------------------------
    def handle(self, items: list[Inbound]) -> None:
        """Store a batch; raises only if the database fails (then nothing of it is acknowledged)."""
        alerts: list[dict] = []
        others: list[tuple[str, str, object]] = []
        for item in items:
            parsed = self._parse(item)
            if parsed is None:
                continue
            kind, source, body = parsed
            (alerts.append(body) if kind == "alert" else others.append((kind, source, body)))
        receipts = ReceiptBatcher(self.publish, self.prefix)
        if alerts:
            try:
                with self.db.tx() as t:
                    stored, duplicates = store_alerts(t, alerts, self.config.incidents, self.sites, self._nodes)
            except Exception:
                self._nodes.clear()  # rolled back: what it learnt about nodes may not be stored
                raise
            self.stored += stored
            self.duplicates += duplicates
            for m in alerts:
                receipts.stored(m["node"], m["id"], m["stage"])
        if others:
            with self.db.tx() as t:
                for kind, source, body in others:
                    getattr(self, f"_store_{kind}")(t, source, body)
        receipts.flush(force=True)  # after the commit: one receipt per node per batch

    def _parse(self, item: Inbound) -> tuple[str, str, object] | None:
        parts = item.topic.split("/")
        if len(parts) == 4 and parts[0] == self.prefix and parts[1] == "officer":
            kind, source = parts[3], parts[2]
            models = {"position": OfficerPosition, "task_state": TaskState}
        elif len(parts) == 3 and parts[0] == self.prefix:
            kind, source = parts[2], parts[1]
            models = {"alert": LifecycleMessage, "status": Status, "stats": Stats, "cmd_result": CmdResult}
        else:
            return None
        model = models.get(kind)
        if model is None:
            return None
        label = f"officer {source}" if len(parts) == 4 else f"node {source}"
        try:
            text = item.payload.decode("utf-8")
            parsed = model.model_validate_json(text)  # parsed and checked in one pass (pydantic-core)
        except UnicodeDecodeError:
            self.bad(label, f"{kind}: not UTF-8")
            return None
        except ValidationError as exc:
            self.bad(label, f"{kind}: " + ("not JSON" if exc.errors()[0]["type"] == "json_invalid" else _one_line(exc)))
            return None
        if kind in ("alert", "cmd_result") and parsed.node != source:
            self.bad(label, f"{kind}: says node {parsed.node!r} on the topic of {source!r}")
            return None
        if kind == "alert":
            return kind, source, _fields(parsed, text)
        return kind, source, parsed

    # --- per kind -----------------------------------------------------------------------------------
    def _ensure_node(self, t: Tx, node: str) -> None:
        site = self.sites.get(node, (None, None))
        t.execute("INSERT INTO nodes (node, lat, lon) VALUES (?, ?, ?) ON CONFLICT (node) DO NOTHING", (node, *site))

    def _store_status(self, t: Tx, node: str, s: Status) -> None:
        self._ensure_node(t, node)
        row = t.one("SELECT state, status FROM nodes WHERE node = ?", (node,))
        text = s.model_dump_json()
        if row and row[1] == text:
            return  # the same retained status, read by another worker too
        t.execute("UPDATE nodes SET state = ?, status = ?, status_at = ? WHERE node = ?",
                  (s.state, text, time.time(), node))
        if row is None or row[0] != s.state:
            emit(t, "node", {"node": node, "state": s.state})

    def _store_stats(self, t: Tx, node: str, s: Stats) -> None:
        self._ensure_node(t, node)
        t.execute("UPDATE nodes SET stats = ?, stats_at = ? WHERE node = ?", (s.model_dump_json(), time.time(), node))

    def _store_cmd_result(self, t: Tx, node: str, r: CmdResult) -> None:
        row = t.one("SELECT name, state FROM commands WHERE id = ? AND node = ?", (r.id, node))
        if row is None:
            return  # a command another tool sent (edge-hub command), or the receiver's evidence_ack
        if row[1] != "sent":
            return  # a result delivered twice
        data = dict(r.data) if r.data else None
        if row[0] == "snapshot" and r.ok and data and "jpeg_b64" in data:
            data["picture"] = self._keep_picture(node, r.id, data.pop("jpeg_b64"))
        t.execute("UPDATE commands SET state = ?, ok = ?, error = ?, data = ?, result_at = ? WHERE id = ?",
                  ("done" if r.ok else "failed", int(r.ok), r.error, json.dumps(data) if data else None,
                   time.time(), r.id))
        if row[0] == "snapshot" and r.ok and data:
            t.execute("UPDATE nodes SET snapshot = ?, snapshot_at = ? WHERE node = ?",
                      (json.dumps(data), time.time(), node))
        if row[0] == "zone" and r.ok and r.data and "zone" in r.data:
            zones = json.loads((t.one("SELECT zones FROM nodes WHERE node = ?", (node,)) or [None])[0] or "{}")
            zones[r.data["zone"]] = {"armed": r.data.get("armed"), "at": time.time()}
            t.execute("UPDATE nodes SET zones = ? WHERE node = ?", (json.dumps(zones), node))
        emit(t, "command", {"id": r.id, "node": node, "name": row[0], "ok": r.ok, "error": r.error})

    def _keep_picture(self, node: str, command: str, text: str) -> str | None:
        """Write a snapshot's thumbnail under <evidence>/snapshots/NODE/ (atomically); its file name."""
        from ...contract.thumbnail import decode
        from ...evidence.files import write_atomic

        try:
            data = decode(text)
        except ValueError as exc:
            self.bad(f"node {node}", f"snapshot: {exc}")
            return None
        folder = self.config.path(self.config.evidence.dir) / "snapshots" / node
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{command}.jpg" if command.replace("-", "").isalnum() else "latest.jpg"
        write_atomic(folder / name, data)
        return name

    def _store_position(self, t: Tx, officer: str, p: OfficerPosition) -> None:
        from .officers import record_position

        if not record_position(t, officer, p):
            self.bad(f"officer {officer}", "position: not a registered officer")

    def _store_task_state(self, t: Tx, officer: str, s: TaskState) -> None:
        from .officers import record_task_state

        problem = record_task_state(t, officer, s)
        if problem:
            self.bad(f"officer {officer}", f"task_state: {problem}")

