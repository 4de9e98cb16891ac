"""The hub's alert store: every lifecycle message once, by (id, stage)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..link.outbox import connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT NOT NULL,
    stage TEXT NOT NULL,
    node TEXT NOT NULL,
    kind TEXT,
    rule TEXT,
    zone TEXT,
    ts TEXT,
    payload TEXT NOT NULL,
    received REAL NOT NULL,
    PRIMARY KEY (id, stage)
);
CREATE TABLE IF NOT EXISTS status (
    node TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    payload TEXT NOT NULL,
    received REAL NOT NULL
);
"""


class AlertStore:
    def __init__(self, path: str | Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = connect(path)
        with self._db:
            self._db.execute(SCHEMA)

    def add(self, message: dict) -> bool:
        """Store a lifecycle message; False if (id, stage) was already here (a redelivery)."""
        with self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO alerts (id, stage, node, kind, rule, zone, ts, payload, received) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (message["id"], message["stage"], message.get("node", ""), message.get("kind"), message.get("rule"),
                 message.get("zone"), message.get("ts"), json.dumps(message, ensure_ascii=False), time.time()))
            return self._db.changes() == 1

    def set_status(self, node: str, message: dict) -> bool:
        """Record a node's status; True if it changed."""
        with self._db:
            row = self._db.execute("SELECT state FROM status WHERE node = ?", (node,)).fetchone()
            self._db.execute("INSERT OR REPLACE INTO status (node, state, payload, received) VALUES (?, ?, ?, ?)",
                             (node, message.get("state", "?"), json.dumps(message), time.time()))
        return row is None or row[0] != message.get("state")

    def status(self, node: str) -> dict | None:
        """The last status message of `node`, or None."""
        row = self._db.execute("SELECT payload FROM status WHERE node = ?", (node,)).fetchone()
        return json.loads(row[0]) if row else None

    def count(self, stage: str | None = None) -> int:
        if stage is None:
            return self._db.execute("SELECT count(*) FROM alerts").fetchone()[0]
        return self._db.execute("SELECT count(*) FROM alerts WHERE stage = ?", (stage,)).fetchone()[0]

    def messages(self) -> list[dict]:
        return [json.loads(p) for (p,) in self._db.execute("SELECT payload FROM alerts ORDER BY received")]

    def close(self) -> None:
        self._db.close()
