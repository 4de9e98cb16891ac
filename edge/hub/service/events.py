"""The change feed: every change the console should see is a row in `events`, written in the same
transaction as the change.  The SSE stream reads the rows after the last one it sent, so an event
made by any worker reaches every worker's clients, and a client that reconnects with
`Last-Event-ID` misses nothing.  The readers (edge.hub.service.feed) go by `seq`, so on PostgreSQL
the numbers are handed out in commit order: a writer takes the `FEED_LOCK` just before its events
(as late as it can: it is held to the commit), else a worker's row numbered 100 could commit after
another's 101 had been read, and no reader would ever see it."""

from __future__ import annotations

import json
import time

from .db import Database, Tx

#: Rows older than this are removed by `prune` (a console reconnecting later reloads its lists).
KEEP_S = 24 * 3600
FEED_LOCK = "edge-hub-events"


def emit(tx: Tx, kind: str, data: dict) -> None:
    tx.lock(FEED_LOCK)
    tx.changed = True
    tx.execute("INSERT INTO events (at, kind, data) VALUES (?, ?, ?)",
               (time.time(), kind, json.dumps(data, ensure_ascii=False, separators=(",", ":"))))


def last_seq(db: Database) -> int:
    row = db.query("SELECT max(seq) FROM events")
    return int(row[0][0] or 0) if row else 0


def since(db: Database, seq: int, limit: int = 500) -> list[tuple[int, str, str]]:
    return [(int(s), k, d) for s, k, d in
            db.query("SELECT seq, kind, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit))]


def prune(db: Database, now: float | None = None) -> None:
    with db.tx() as t:
        t.execute("DELETE FROM events WHERE at < ?", ((now or time.time()) - KEEP_S,))
