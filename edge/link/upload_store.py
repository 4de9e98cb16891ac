"""The uploader's queue in SQLite: which files of which bundles to send, what the receiver confirmed.

What the receiver has confirmed (byte spans of a file) is kept here, so after a disconnect, a broker
restart or a power cut only what is still unconfirmed is sent again.  Segments vary in size with the
link (edge/link/pace.py), so a confirmed segment is recorded as its offset and length.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .outbox import connect

log = logging.getLogger("edge.link.upload")

# Priorities: lower goes first.
PRIORITY = {"manifest": 0, "snapshot": 1, "clip": 2, "dock": 3, "file": 2}

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    file_id TEXT PRIMARY KEY,
    bundle TEXT NOT NULL,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    priority INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',   -- pending | finishing | stored | failed | missing
    attempts INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS segments (
    file_id TEXT NOT NULL,
    offset INTEGER NOT NULL,
    length INTEGER NOT NULL,
    PRIMARY KEY (file_id, offset)           -- a row: the receiver stored these bytes
);
CREATE TABLE IF NOT EXISTS bundles (
    bundle TEXT PRIMARY KEY,
    manifest_sha256 TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'uploading', -- uploading | sent | verified | rejected | incomplete
    reason TEXT,                             -- the hub's reason, or which files are missing
    created REAL NOT NULL
);
"""


def file_id_for(bundle: str, name: str) -> str:
    """Unique per node and stable across restarts; no '/' (a topic level)."""
    return f"{bundle}.{name}".replace("/", "_")


@dataclass
class UploadFile:
    file_id: str
    bundle: str
    name: str
    path: Path
    size: int
    sha256: str
    seq: int


class UploadStore:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = connect(path)
        # Progress, not evidence: a power cut may take back the last commits (WAL keeps the file
        # whole), and then a few segments or a file go again; at start every sealed bundle the hub
        # has not verified is queued again from the evidence store.  No fsync per file, then.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._lock = threading.Lock()
        with self._db:
            columns = [r[1] for r in self._db.execute("PRAGMA table_info(segments)")]
            if columns and "length" not in columns:
                # Written before segments varied in size: that progress is given up (a few segments go
                # again once), the queue of files is kept.
                self._db.execute("DROP TABLE segments")
            self._db.execute(SCHEMA)
            # fin's answer never came before the stop: those files go again (the receiver answers what it has)
            self._db.execute("UPDATE files SET state = 'pending' WHERE state = 'finishing'")

    def add_bundle(self, bundle: str, folder: Path, manifest_sha256: str, seq: int, kind: str = "evidence") -> int:
        """Queue every file of a sealed bundle (idempotent); returns how many were added (or came back
        after they had gone missing).  A file not on disk is recorded as missing, not queued."""
        manifest = json.loads((folder / "manifest.json").read_text())
        entries = [("manifest.json", "manifest", None, None), ("manifest.sig", "manifest", None, None)]
        # The manifest already holds every file's SHA-256: no second read of a long clip here.
        entries += [(f["name"], "dock" if kind == "dock" else f.get("kind", "file"), f["sha256"], f.get("size"))
                    for f in manifest["files"]]
        added, missing = 0, []
        with self._lock, self._db:
            self._db.execute("INSERT OR IGNORE INTO bundles (bundle, manifest_sha256, kind, created) VALUES (?,?,?,?)",
                             (bundle, manifest_sha256, kind, time.time()))
            for name, file_kind, known_sha, known_size in entries:
                path = folder / name
                try:
                    size = path.stat().st_size
                    data_sha = known_sha or _sha256(path)
                    state = "pending"
                except FileNotFoundError:
                    size, data_sha, state = int(known_size or 0), known_sha or "", "missing"
                self._db.execute(
                    "INSERT OR IGNORE INTO files (file_id, bundle, name, path, size, sha256, priority, seq, state, "
                    "created) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (file_id_for(bundle, name), bundle, name, str(path), size, data_sha,
                     PRIORITY.get(file_kind, 2), seq, state, time.time()))
                if self._db.changes() and state == "missing":
                    missing.append(file_id_for(bundle, name))
                else:
                    added += self._db.changes()
            added += self._requeue_found(bundle)
        for file_id in missing:
            _, reason = self.file_missing(file_id, "not on disk when queued")
            log.warning("upload: bundle %s: %s", bundle, reason)
        return added

    def next_file(self) -> UploadFile | None:
        with self._lock:
            row = self._db.execute(
                "SELECT file_id, bundle, name, path, size, sha256, seq FROM files WHERE state = 'pending' "
                "ORDER BY priority, seq, name LIMIT 1").fetchone()
        return UploadFile(row[0], row[1], row[2], Path(row[3]), row[4], row[5], row[6]) if row else None

    def stored_spans(self, file_id: str) -> list[tuple[int, int]]:
        """(offset, length) of what the receiver confirmed, in order."""
        with self._lock:
            return [(r[0], r[1]) for r in self._db.execute(
                "SELECT offset, length FROM segments WHERE file_id = ? ORDER BY offset", (file_id,))]

    def segments_stored(self, file_id: str, spans: list[tuple[int, int]]) -> None:
        if not spans:
            return
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO segments (file_id, offset, length) VALUES (?, ?, ?)",
                                 [(file_id, o, n) for o, n in spans])

    def forget_segments(self, file_id: str) -> None:
        with self._lock, self._db:
            self._db.execute("DELETE FROM segments WHERE file_id = ?", (file_id,))

    def file_stored(self, file_id: str) -> str | None:
        """Mark a file received whole; returns its bundle if that completes the bundle's upload."""
        with self._lock, self._db:
            self._db.execute("UPDATE files SET state = 'stored' WHERE file_id = ?", (file_id,))
            self._db.execute("DELETE FROM segments WHERE file_id = ?", (file_id,))
            bundle = self._db.execute("SELECT bundle FROM files WHERE file_id = ?", (file_id,)).fetchone()[0]
            left = self._db.execute("SELECT count(*) FROM files WHERE bundle = ? AND state != 'stored'",
                                    (bundle,)).fetchone()[0]
            if left == 0:
                self._db.execute("UPDATE bundles SET state = 'sent' WHERE bundle = ? AND state = 'uploading'",
                                 (bundle,))
                return bundle
        return None

    def file_finishing(self, file_id: str) -> None:
        """Sent whole, fin's answer to come: not picked again meanwhile."""
        with self._lock, self._db:
            self._db.execute("UPDATE files SET state = 'finishing' WHERE file_id = ? AND state = 'pending'", (file_id,))

    def file_pending(self, file_id: str) -> None:
        with self._lock, self._db:
            self._db.execute("UPDATE files SET state = 'pending' WHERE file_id = ? AND state = 'finishing'", (file_id,))

    def file_failed(self, file_id: str) -> None:
        """The receiver refused this file for good: it is not sent again."""
        with self._lock, self._db:
            self._db.execute("UPDATE files SET state = 'failed' WHERE file_id = ?", (file_id,))

    def file_missing(self, file_id: str, problem: str) -> tuple[str, str]:
        """A queued file is gone from the node's disk (or cannot be read): it leaves the queue, and its
        bundle, which can no longer be sent whole, says which of its files are missing.  Returns
        (bundle, reason).  Queueing the bundle again brings back the files that are there again."""
        with self._lock, self._db:
            self._db.execute("UPDATE files SET state = 'missing' WHERE file_id = ?", (file_id,))
            bundle = self._db.execute("SELECT bundle FROM files WHERE file_id = ?", (file_id,)).fetchone()[0]
            names = [r[0] for r in self._db.execute(
                "SELECT name FROM files WHERE bundle = ? AND state = 'missing' ORDER BY name", (bundle,))]
            reason = f"missing on the node: {', '.join(names)} ({problem})"
            self._db.execute("UPDATE bundles SET state = 'incomplete', reason = ? WHERE bundle = ? "
                             "AND state IN ('uploading', 'incomplete')", (reason, bundle))
        return bundle, reason

    def bundle_reason(self, bundle: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT reason FROM bundles WHERE bundle = ?", (bundle,)).fetchone()
        return row[0] if row else None

    def _requeue_found(self, bundle: str) -> int:
        """Files marked missing that are back on disk go to the queue again (lock and transaction held)."""
        back = [fid for fid, path in self._db.execute(
            "SELECT file_id, path FROM files WHERE bundle = ? AND state = 'missing'", (bundle,)) if Path(path).exists()]
        for fid in back:
            self._db.execute("UPDATE files SET state = 'pending' WHERE file_id = ?", (fid,))
        if back and not self._db.execute("SELECT 1 FROM files WHERE bundle = ? AND state = 'missing'",
                                         (bundle,)).fetchone():
            self._db.execute("UPDATE bundles SET state = 'uploading', reason = NULL WHERE bundle = ? "
                             "AND state = 'incomplete'", (bundle,))
        return len(back)

    def bundle_verdict(self, bundle: str, verified: bool, reason: str | None) -> str | None:
        """The hub's word on a whole bundle; returns the manifest hash it was about (or None if unknown)."""
        with self._lock, self._db:
            row = self._db.execute("SELECT manifest_sha256 FROM bundles WHERE bundle = ?", (bundle,)).fetchone()
            if row is None:
                return None
            self._db.execute("UPDATE bundles SET state = ?, reason = ? WHERE bundle = ?",
                             ("verified" if verified else "rejected", reason, bundle))
            return row[0]

    def ask_verdict_again(self, bundle: str) -> bool:
        """A bundle sent whole whose verdict never came (the hub's ack was lost, e.g. received as the node
        stopped): send its manifest again, so that the hub checks it and says its word again."""
        with self._lock, self._db:
            self._db.execute("UPDATE bundles SET state = 'uploading' WHERE bundle = ? AND state = 'sent'", (bundle,))
            if self._db.changes() != 1:
                return False
            self._db.execute("UPDATE files SET state = 'pending' WHERE bundle = ? AND name IN (?, ?)",
                             (bundle, "manifest.json", "manifest.sig"))
            return True

    def bundle_state(self, bundle: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT state FROM bundles WHERE bundle = ?", (bundle,)).fetchone()
        return row[0] if row else None

    def counts(self) -> dict[str, int]:
        with self._lock:
            files = dict(self._db.execute("SELECT state, count(*) FROM files GROUP BY state").fetchall())
            pending_bytes = self._db.execute(
                "SELECT coalesce(sum(size), 0) - (SELECT coalesce(sum(length), 0) FROM segments JOIN files "
                "USING (file_id) WHERE state = 'pending') FROM files WHERE state = 'pending'").fetchone()[0]
            oldest = self._db.execute("SELECT min(created) FROM files WHERE state = 'pending'").fetchone()[0]
        return {"files_pending": files.get("pending", 0), "files_stored": files.get("stored", 0),
                "files_missing": files.get("missing", 0), "bytes_pending": pending_bytes,
                "oldest_wait_s": round(max(0.0, time.time() - oldest), 1) if oldest is not None else 0.0}

    def close(self) -> None:
        self._db.close()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
