"""The evidence store: bundle folders on disk and their index in SQLite.

A bundle's index row is written before its folder, so every folder on disk has a row.  Sealing
assigns the next sequence number and chains the manifest to the one before, in one transaction.
After a crash, bundles still open are sealed again from whatever complete files they hold and
marked incomplete.  A small reserve file keeps room to seal manifests on a full disk.  Retention
frees space by deleting the oldest bundles the hub has verified and no officer has put on hold; it
never deletes anything else, and says so (degraded) when nothing may go.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import apsw

from ..contract.timefmt import now_iso
from ..link.outbox import connect
from .files import remove_partials
from .manifest import FORMAT, MANIFEST, SIGNATURE, file_entry, seal

log = logging.getLogger("edge.evidence")

# Kept free on the evidence disk (as a file released when needed) so that a disk full of bundles
# nobody may delete can still seal the manifests (a few kB each) of the alerts that keep coming.
RESERVE = ".reserve"
RESERVE_BYTES = 256 * 1024
# Whatever [evidence] min_free_bytes says, media stop (degraded) below this much free: the node's
# databases, its lifecycle log and the manifests of the alerts to come need it.
OPERATING_FLOOR_BYTES = 1024 * 1024

SCHEMA = """
CREATE TABLE IF NOT EXISTS bundles (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,            -- open | sealed
    seq INTEGER UNIQUE,
    created REAL NOT NULL,
    sealed REAL,
    bytes INTEGER NOT NULL DEFAULT 0,
    manifest_sha256 TEXT,
    incomplete INTEGER NOT NULL DEFAULT 0,
    degraded INTEGER NOT NULL DEFAULT 0,
    acked INTEGER NOT NULL DEFAULT 0,   -- the hub has verified the whole bundle
    hold INTEGER NOT NULL DEFAULT 0,    -- an officer asked to keep it
    deleted REAL,                       -- removed by retention (the chain row stays)
    facts TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS chain (
    seq INTEGER PRIMARY KEY,
    bundle TEXT NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    previous TEXT
);
"""


@dataclass(frozen=True)
class BundleRow:
    id: str
    state: str
    seq: int | None
    created: float
    bytes: int
    manifest_sha256: str | None
    incomplete: bool
    degraded: bool
    acked: bool
    hold: bool
    deleted: bool


class EvidenceStore:
    def __init__(self, state_dir: Path):
        self.root = state_dir / "evidence"
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._connect(state_dir)
        except (apsw.Error, OSError) as exc:  # a disk full to the last byte: the reserve lets the node start
            if not self._release_reserve():
                raise
            log.error("evidence: cannot open the evidence database (%s); the space kept in reserve lets it start",
                      exc)
            self._db = self._connect(state_dir)
        self._lock = threading.Lock()
        self.opened_on_reserve = False  # the last open() needed the reserve: the disk is full
        self.keep_reserve()

    @staticmethod
    def _connect(state_dir: Path) -> apsw.Connection:
        db = connect(state_dir / "evidence.db")
        with db:
            db.execute(SCHEMA)
        return db

    # --- the reserve ----------------------------------------------------------------------------
    def keep_reserve(self) -> None:
        """Hold RESERVE_BYTES of the evidence disk so that a full disk can still seal manifests."""
        path = self.root / RESERVE
        if path.exists():
            return
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.posix_fallocate(fd, 0, RESERVE_BYTES)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:  # no room for it yet: try again after retention frees some
            with contextlib.suppress(OSError):
                path.unlink()

    def _release_reserve(self) -> bool:
        try:
            (self.root / RESERVE).unlink()
        except FileNotFoundError:
            return False
        return True

    def free_bytes(self) -> int | None:
        try:
            return shutil.disk_usage(self.root).free
        except OSError:
            return None

    def folder(self, bundle_id: str) -> Path:
        return self.root / bundle_id

    # --- life of a bundle --------------------------------------------------------------------
    def open(self, bundle_id: str, facts: dict) -> Path:
        """The bundle's row and folder.  A full disk gets the reserve back first: an alert's bundle
        (its manifest at least) matters more than the reserve kept for one."""
        self.opened_on_reserve = False
        try:
            return self._open(bundle_id, facts)
        except (OSError, apsw.Error) as exc:
            if not self._release_reserve():
                raise
            log.error("evidence: disk full (%s); the space kept in reserve opens bundle %s", exc, bundle_id)
            self.opened_on_reserve = True  # the caller seals it at once, before anything else takes the room
            return self._open(bundle_id, facts)

    def _open(self, bundle_id: str, facts: dict) -> Path:
        import json

        with self._lock, self._db:
            self._db.execute("INSERT OR IGNORE INTO bundles (id, state, created, facts) VALUES (?, 'open', ?, ?)",
                             (bundle_id, time.time(), json.dumps(facts)))
        folder = self.folder(bundle_id)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:  # a full disk: leave no open row without a folder behind
            with self._lock, self._db:
                self._db.execute("DELETE FROM bundles WHERE id = ? AND state = 'open'", (bundle_id,))
            raise
        return folder

    def seal(self, bundle_id: str, facts: dict, files: list[dict], key, *, incomplete: bool = False,
             degraded: bool = False, notes: list[str] = ()) -> str:
        """Sign and chain the bundle; return its manifest's SHA-256."""
        folder = self.folder(bundle_id)
        with self._lock:
            row = self._db.execute("SELECT max(seq), (SELECT manifest_sha256 FROM chain ORDER BY seq DESC LIMIT 1) "
                                   "FROM chain").fetchone()
            seq = (row[0] or 0) + 1
            previous = row[1]
            manifest = {"format": FORMAT, "bundle": bundle_id, "sequence": seq, "previous": previous, **facts,
                        "files": files, "incomplete": incomplete, "degraded": degraded, "notes": list(notes),
                        "sealed_at": now_iso()}
            try:
                digest = seal(folder, manifest, key)
            except OSError as exc:
                if exc.errno != errno.ENOSPC or not self._release_reserve():
                    raise
                log.error("evidence: disk full; the space kept in reserve seals bundle %s", bundle_id)
                digest = seal(folder, manifest, key)
            size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
            try:
                self._commit_seal(bundle_id, seq, digest, previous, size, incomplete, degraded)
            except apsw.FullError:  # the database's disk is full: the reserve pays for the commit
                if not self._release_reserve():
                    raise
                log.error("evidence: disk full; the space kept in reserve commits bundle %s", bundle_id)
                self._commit_seal(bundle_id, seq, digest, previous, size, incomplete, degraded)
        return digest

    def _commit_seal(self, bundle_id, seq, digest, previous, size, incomplete, degraded) -> None:
        with self._db:
            self._db.execute("INSERT INTO chain (seq, bundle, manifest_sha256, previous) VALUES (?, ?, ?, ?)",
                             (seq, bundle_id, digest, previous))
            self._db.execute(
                "UPDATE bundles SET state = 'sealed', seq = ?, sealed = ?, bytes = ?, manifest_sha256 = ?, "
                "incomplete = ?, degraded = ? WHERE id = ?",
                (seq, time.time(), size, digest, int(incomplete), int(degraded), bundle_id))

    def recover(self, key) -> list[str]:
        """Seal again, as incomplete, every bundle a crash left open; return their ids."""
        import json

        rows = self._db.execute("SELECT id, facts FROM bundles WHERE state = 'open' ORDER BY created").fetchall()
        recovered = []
        for bundle_id, facts in rows:
            folder = self.folder(bundle_id)
            folder.mkdir(parents=True, exist_ok=True)
            removed = remove_partials(folder)
            for stale in (MANIFEST, SIGNATURE):  # written before the crash but never committed
                with contextlib.suppress(FileNotFoundError):
                    (folder / stale).unlink()
            files = [file_entry(folder, p.name, _kind(p.name)) for p in sorted(folder.iterdir()) if p.is_file()]
            notes = ["recovered after an interruption (power cut or crash) and sealed as found"]
            if removed:
                notes.append(f"partly written files removed: {', '.join(removed)}")
            self.seal(bundle_id, json.loads(facts), files, key, incomplete=True, notes=notes)
            recovered.append(bundle_id)
            log.warning("evidence: bundle %s was left open by an interruption; sealed as incomplete", bundle_id)
        return recovered

    # --- marks ----------------------------------------------------------------------------------
    def mark_acked(self, bundle_id: str) -> bool:
        with self._lock, self._db:
            self._db.execute("UPDATE bundles SET acked = 1 WHERE id = ? AND state = 'sealed'", (bundle_id,))
            return self._db.changes() == 1

    def set_hold(self, bundle_id: str, hold: bool) -> bool:
        with self._lock, self._db:
            self._db.execute("UPDATE bundles SET hold = ? WHERE id = ?", (int(hold), bundle_id))
            return self._db.changes() == 1

    # --- queries -------------------------------------------------------------------------------
    def rows(self, include_deleted: bool = False) -> list[BundleRow]:
        query = ("SELECT id, state, seq, created, bytes, manifest_sha256, incomplete, degraded, acked, hold, deleted "
                 "FROM bundles" + ("" if include_deleted else " WHERE deleted IS NULL") + " ORDER BY coalesce(seq, 1e18), created")
        return [BundleRow(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), bool(r[7]), bool(r[8]), bool(r[9]),
                          r[10] is not None) for r in self._db.execute(query)]

    def get(self, bundle_id: str) -> BundleRow | None:
        return next((r for r in self.rows(include_deleted=True) if r.id == bundle_id), None)

    def chain(self) -> list[tuple[int, str, str, str | None]]:
        return list(self._db.execute("SELECT seq, bundle, manifest_sha256, previous FROM chain ORDER BY seq"))

    def used_bytes(self) -> int:
        total = 0
        for folder in self.root.iterdir():
            if folder.is_dir():
                total += sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
        return total

    # --- retention -------------------------------------------------------------------------------
    def enforce(self, max_bytes: int, min_free_bytes: int) -> bool:
        """Delete verified, unheld bundles, oldest first, until within quota and floor.

        Returns True when the limits still cannot be met (evidence degraded).
        """
        used = self.used_bytes()
        free = shutil.disk_usage(self.root).free
        min_free_bytes = max(min_free_bytes, OPERATING_FLOOR_BYTES)
        while used > max_bytes or free < min_free_bytes:
            row = self._db.execute("SELECT id, bytes FROM bundles WHERE state = 'sealed' AND acked = 1 AND hold = 0 "
                                   "AND deleted IS NULL ORDER BY seq LIMIT 1").fetchone()
            if row is None:
                return True
            bundle_id, size = row
            shutil.rmtree(self.folder(bundle_id), ignore_errors=True)
            with self._lock, self._db:
                self._db.execute("UPDATE bundles SET deleted = ? WHERE id = ?", (time.time(), bundle_id))
            log.info("evidence: retention removed bundle %s (verified by the hub, %d bytes)", bundle_id, size)
            used -= size
            free += size
        self.keep_reserve()
        return False

    @classmethod
    def inspect(cls, state_dir: Path) -> EvidenceStore:
        """A store to read (list, verify, export) that writes nothing: the folder may be an
        investigator's read-only mount of a dead box's card. See edge/evidence/readonly.py."""
        from .readonly import open_for_reading

        store = cls.__new__(cls)
        store.root = state_dir / "evidence"
        store._db = open_for_reading(state_dir / "evidence.db")
        store._lock = threading.Lock()
        return store

    def integrity(self) -> str:
        return self._db.execute("PRAGMA integrity_check").fetchone()[0]

    def close(self) -> None:
        self._db.close()


def _kind(name: str) -> str:
    if name.endswith(".mp4"):
        return "clip"
    if name.endswith(".jpg"):
        return "snapshot"
    return "file"
