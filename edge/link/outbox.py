"""The durable outbox: every message worth keeping is committed to SQLite before it is published.

A row is "to send" until the broker's PUBACK.  A lifecycle message (an alert row with a message id)
then becomes "sent, awaiting receipt" and is deleted only when the hub's receipt names it
(`edge.contract.Receipt`): a broker that dies with its queue loses a message the node already
counted as delivered, and a PUBACK cannot tell.  A row awaiting its receipt too long is sent again,
with back-off (`due`); other rows (command results) are deleted at the PUBACK.

paho keeps its own queue in memory only, so this table is the truth: after a kill -9 or a power
cut, whatever was committed and not receipted is sent again, in order.  Delivery is therefore
at-least-once; a duplicate carries the same message id and consumers de-duplicate by it.

Bounds: when the table holds more than `max_messages` rows or `max_bytes` of payload, the oldest
droppable rows (stats) go first.  Alerts and command results are never dropped; if only they are
left the outbox grows past its bound and says so (`over_limit`).
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from pathlib import Path
from typing import NamedTuple

import apsw

from ..util import connect_sqlite

DROPPABLE = ("stats",)
HANDED_KEEP_S = 90 * 86400

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    kind TEXT NOT NULL,
    msg_id TEXT,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_msg_id ON outbox (msg_id);
-- the id of every alert message ever committed here (kept 90 days): what the node's own lifecycle
-- log holds and this table does not was cut off by a power cut between the two writes
CREATE TABLE IF NOT EXISTS handed (
    msg_id TEXT PRIMARY KEY,
    at REAL NOT NULL
);
-- how many rows the hub's receipts released, and the longest any waited from commit to receipt
CREATE TABLE IF NOT EXISTS receipt_stats (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    receipts INTEGER NOT NULL,
    max_s REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS dead (
    seq INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    kind TEXT NOT NULL,
    msg_id TEXT,
    created REAL NOT NULL,
    reason TEXT NOT NULL,
    failed REAL NOT NULL
);
"""


class Row(NamedTuple):  # a tuple: the drain builds one per message
    seq: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    kind: str
    msg_id: str | None


def connect(path: str | Path) -> apsw.Connection:
    """A state database with the durability settings every one here uses (edge.util.connect_sqlite)."""
    return connect_sqlite(path)


#: columns added for end-to-end receipts (an outbox of an older version gains them at open)
RECEIPT_COLUMNS = (("receipt", "INTEGER NOT NULL DEFAULT 0"),  # 1: kept until the hub's receipt
                   ("sent", "REAL"),  # when the broker acknowledged it; NULL: still to send
                   ("attempts", "INTEGER NOT NULL DEFAULT 0"),  # sends after the first
                   ("due", "REAL"))  # when it is sent again if no receipt came


def _keeps_counts(method):
    """A write that fails (a full disk fails at the commit) is rolled back by SQLite, but the counts
    kept in memory may have moved already: count again from the table."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            self._recount()
            raise
    return wrapper


class Outbox:
    def __init__(self, path: str | Path, max_messages: int = 100_000, max_bytes: int = 64 * 1024 * 1024, *,
                 receipts: bool = True, receipt_timeout_s: float = 15.0, receipt_max_s: float = 300.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.receipts = receipts  # False: a PUBACK is the end (a hub that sends no receipts)
        self.receipt_timeout_s = receipt_timeout_s
        self.receipt_max_s = receipt_max_s
        self._lock = threading.Lock()  # one connection, used from the node and the link threads
        self._db = connect(self.path)
        # Deletes of acknowledged rows have a connection of their own: the link's network thread
        # reads the next rows meanwhile instead of waiting for them (WAL: readers do not wait).
        self._ack_lock = threading.Lock()
        self._ack_db = connect(self.path)
        with self._db:
            self._db.execute(SCHEMA)
            have = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
            for name, decl in RECEIPT_COLUMNS:
                if name not in have:
                    self._db.execute(f"ALTER TABLE outbox ADD COLUMN {name} {decl}")
            self._db.execute("DELETE FROM handed WHERE at < ?", (time.time() - HANDED_KEEP_S,))
        self._count, self._bytes, self.last_seq, self._awaiting = self._db.execute(
            "SELECT count(*), coalesce(sum(length(payload)), 0), coalesce(max(seq), 0), "
            "coalesce(sum(sent IS NOT NULL), 0) FROM outbox").fetchone()
        self.over_limit = False
        self.dropped = 0
        self.receipted = 0  # rows the hub's receipts released, since start
        self.resent = 0  # rows sent again for want of a receipt, since start
        self._wakeup = threading.Event()

    # --- producers ----------------------------------------------------------------------------
    def put(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, kind: str = "alert",
            msg_id: str | None = None) -> int:
        """Commit one message (fsynced when this returns) and wake the publisher."""
        return self.put_many([(topic, payload, qos, retain, kind, msg_id)])[-1]

    @_keeps_counts
    def put_many(self, messages: list[tuple[str, bytes, int, bool, str, str | None]]) -> list[int]:
        """Commit several messages in one transaction: (topic, payload, qos, retain, kind, msg_id)."""
        now = time.time()
        seqs = []
        with self._lock, self._db:
            for topic, payload, qos, retain, kind, msg_id in messages:
                receipt = int(self.receipts and kind == "alert" and bool(msg_id))
                self._db.execute(
                    "INSERT INTO outbox (topic, payload, qos, retain, kind, msg_id, created, receipt) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (topic, payload, qos, int(retain), kind, msg_id, now, receipt))
                seqs.append(self._db.last_insert_rowid())
                self.last_seq = seqs[-1]
                if kind == "alert" and msg_id:
                    self._db.execute("INSERT OR IGNORE INTO handed (msg_id, at) VALUES (?, ?)", (msg_id, now))
                self._count += 1
                self._bytes += len(payload)
            self._enforce_bounds()
        self._wakeup.set()
        return seqs

    def _enforce_bounds(self) -> None:
        if self._count <= self.max_messages and self._bytes <= self.max_bytes:
            self.over_limit = False
            return
        marks = ",".join("?" * len(DROPPABLE))
        while self._count > self.max_messages or self._bytes > self.max_bytes:
            row = self._db.execute(f"SELECT seq, length(payload) FROM outbox WHERE kind IN ({marks}) "
                                   "ORDER BY seq LIMIT 1", DROPPABLE).fetchone()
            if row is None:
                self.over_limit = True  # only messages that must never be dropped are left
                return
            self._db.execute("DELETE FROM outbox WHERE seq = ?", (row[0],))
            self.dropped += 1
            self._count -= 1
            self._bytes -= row[1]
        self.over_limit = False

    @contextlib.contextmanager
    def _immediate(self):
        """A write transaction that takes the write lock first (BEGIN IMMEDIATE), waiting for it.

        Why: a deferred transaction that reads and then writes (a receipt counts, then deletes) fails at
        once with "database is locked" when the ack connection committed in between (WAL gives no busy
        wait to an upgrade from a stale snapshot): the receipt was dropped and 300 receipted messages
        waited out their back-off to be sent again."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(apsw.SQLError):  # SQLite may have rolled back already (a full disk)
                self._db.execute("ROLLBACK")
            raise

    def _forget(self, seqs: list[int]) -> None:
        marks = ",".join("?" * len(seqs))
        count, size, sent = self._db.execute(
            f"SELECT count(*), coalesce(sum(length(payload)), 0), coalesce(sum(sent IS NOT NULL), 0) "
            f"FROM outbox WHERE seq IN ({marks})", seqs).fetchone()
        self._db.execute(f"DELETE FROM outbox WHERE seq IN ({marks})", seqs)
        self._count -= count
        self._bytes -= size
        self._awaiting -= sent

    # --- the publisher ------------------------------------------------------------------------
    def pending(self, after: int = 0, limit: int = 256) -> list[Row]:
        """Rows in order, after sequence number `after`."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, payload, qos, retain, kind, msg_id FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit)).fetchall()
        return [Row(seq, topic, payload, qos, bool(retain), kind, msg_id)
                for seq, topic, payload, qos, retain, kind, msg_id in rows]

    @_keeps_counts
    def ack(self, seqs: list[int]) -> None:
        """The broker has these: delete them, or, for rows that wait for the hub's receipt, mark them
        sent and due again after the receipt timeout (one transaction for the batch).

        Acknowledgements come nearly in order, so the batch is handled as runs of consecutive
        sequence numbers: a few statements per run, not a parameter per row.
        """
        gone = freed = marked = 0
        now = time.time()
        with self._ack_lock:
            # IMMEDIATE: the write lock before the count, so nobody deletes in between
            self._ack_db.execute("BEGIN IMMEDIATE")
            try:
                for low, high in _runs(seqs):
                    count, size, waiting, fresh = self._ack_db.execute(
                        "SELECT count(*), coalesce(sum(length(payload)), 0), coalesce(sum(receipt), 0), "
                        "coalesce(sum(receipt AND sent IS NULL), 0) FROM outbox WHERE seq BETWEEN ? AND ?",
                        (low, high)).fetchone()
                    if count - waiting:
                        size_gone = self._ack_db.execute(
                            "SELECT coalesce(sum(length(payload)), 0) FROM outbox WHERE seq BETWEEN ? AND ? "
                            "AND receipt = 0", (low, high)).fetchone()[0] if waiting else size
                        self._ack_db.execute("DELETE FROM outbox WHERE seq BETWEEN ? AND ? AND receipt = 0",
                                             (low, high))
                        gone, freed = gone + count - waiting, freed + size_gone
                    if waiting:
                        # the back-off doubles with every send again, up to receipt_max_s
                        self._ack_db.execute(
                            "UPDATE outbox SET sent = ?, due = ? + min(?, ? * (1 << min(attempts, 20))) "
                            "WHERE seq BETWEEN ? AND ? AND receipt = 1",
                            (now, now, self.receipt_max_s, self.receipt_timeout_s, low, high))
                        marked += fresh
                self._ack_db.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled back already (a full disk does): then there is nothing to undo
                with contextlib.suppress(apsw.SQLError):
                    self._ack_db.execute("ROLLBACK")
                raise
        with self._lock:
            self._count -= gone
            self._bytes -= freed
            self._awaiting += marked

    @_keeps_counts
    def receipt(self, msg_ids: list[str]) -> int:
        """The hub has stored these lifecycle messages ("{id}:{stage}"): delete them; returns how many
        rows went (a receipt for a message no longer here, a repeat, is nothing to do)."""
        if not msg_ids:
            return 0
        now = time.time()
        with self._lock, self._immediate():
            gone = freed = awaiting = 0
            longest = 0.0
            for start in range(0, len(msg_ids), 256):
                chunk = msg_ids[start:start + 256]
                marks = ",".join("?" * len(chunk))
                count, size, sent, oldest = self._db.execute(
                    f"SELECT count(*), coalesce(sum(length(payload)), 0), coalesce(sum(sent IS NOT NULL), 0), "
                    f"min(created) FROM outbox WHERE receipt = 1 AND msg_id IN ({marks})", chunk).fetchone()
                if count:
                    self._db.execute(f"DELETE FROM outbox WHERE receipt = 1 AND msg_id IN ({marks})", chunk)
                    gone, freed, awaiting = gone + count, freed + size, awaiting + sent
                    longest = max(longest, now - oldest)
            if gone:
                self._db.execute("INSERT INTO receipt_stats (id, receipts, max_s) VALUES (1, ?, ?) ON CONFLICT (id) "
                                 "DO UPDATE SET receipts = receipts + excluded.receipts, "
                                 "max_s = max(max_s, excluded.max_s)", (gone, longest))
            self._count -= gone
            self._bytes -= freed
            self._awaiting -= awaiting
            self.receipted += gone
        return gone

    def due(self, upto_seq: int, limit: int = 256, now: float | None = None) -> list[Row]:
        """Rows sent (up to `upto_seq`) whose receipt is overdue, oldest first: to send again."""
        now = time.time() if now is None else now
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, payload, qos, retain, kind, msg_id FROM outbox WHERE sent IS NOT NULL "
                "AND due <= ? AND seq <= ? ORDER BY seq LIMIT ?", (now, upto_seq, limit)).fetchall()
        return [Row(seq, topic, payload, qos, bool(retain), kind, msg_id)
                for seq, topic, payload, qos, retain, kind, msg_id in rows]

    def resending(self, seqs: list[int]) -> None:
        """These rows are on their way again: count the attempt; the PUBACK sets their next due time."""
        if not seqs:
            return
        with self._lock, self._db:
            for low, high in _runs(seqs):
                self._db.execute("UPDATE outbox SET attempts = attempts + 1, due = ? WHERE seq BETWEEN ? AND ? "
                                 "AND sent IS NOT NULL", (time.time() + self.receipt_max_s, low, high))
            self.resent += len(seqs)

    def due_now(self) -> None:
        """Everything awaiting a receipt is due at once (the broker lost its session: it may have lost
        what it had acknowledged)."""
        with self._lock, self._db:
            self._db.execute("UPDATE outbox SET due = ? WHERE sent IS NOT NULL", (time.time(),))

    @_keeps_counts
    def bury(self, seq: int, reason: str) -> None:
        """The broker refused this message for good (not authorised, bad topic): keep it aside."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO dead (seq, topic, payload, kind, msg_id, created, reason, failed) "
                "SELECT seq, topic, payload, kind, msg_id, created, ?, ? FROM outbox WHERE seq = ?",
                (reason, time.time(), seq))
            self._forget([seq])

    def wake(self) -> None:
        self._wakeup.set()

    def wait(self, timeout: float) -> None:
        """Sleep until woken or `timeout`; the wake stays set until the next clear_wake()."""
        self._wakeup.wait(timeout)

    def clear_wake(self) -> None:
        self._wakeup.clear()

    def handed(self, msg_ids: list[str]) -> set[str]:
        """Which of these alert message ids were ever committed here."""
        with self._lock:
            return {m for m in msg_ids
                    if self._db.execute("SELECT 1 FROM handed WHERE msg_id = ?", (m,)).fetchone()}

    def _recount(self) -> None:
        with contextlib.suppress(apsw.Error), self._lock:
            self._count, self._bytes, self._awaiting = self._db.execute(
                "SELECT count(*), coalesce(sum(length(payload)), 0), coalesce(sum(sent IS NOT NULL), 0) "
                "FROM outbox").fetchone()

    def depth(self) -> int:
        """Rows held: to send and awaiting a receipt."""
        return self._count

    def awaiting(self) -> int:
        """Rows the broker acknowledged that wait for the hub's receipt."""
        return self._awaiting

    def unsent(self) -> int:
        return self._count - self._awaiting

    @property
    def bytes(self) -> int:
        return self._bytes

    def dead_count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM dead").fetchone()[0]

    def close(self) -> None:
        with self._lock, self._ack_lock:
            self._ack_db.close()
            self._db.close()


def _runs(seqs: list[int]) -> list[tuple[int, int]]:
    """[3, 1, 2, 7, 8] -> [(1, 3), (7, 8)]"""
    runs: list[tuple[int, int]] = []
    for seq in sorted(set(seqs)):
        if runs and seq == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], seq)
        else:
            runs.append((seq, seq))
    return runs
