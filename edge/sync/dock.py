"""Dock mode: ingest the footage of docked body-worn recorders with a chain of custody.

Every scan looks for recorders under the mount folder, identifies each, and copies every recording
it has not ingested yet: hashed while it is read, written under a temporary name, synced, and read
back to check the copy.  A recorder pulled out mid-copy leaves nothing registered: the partial copy
waits under its temporary name and the copy picks up where it stopped next time, provided the
recording is unchanged.  When a recorder's new files are all in, they become one evidence bundle
whose signed manifest is the chain-of-custody record (which recorder, which officer, which dock,
when, each file's hash), uploaded like any other bundle.  Files are removed from a recorder only if
configured, and only after the hub has verified the bundle that holds them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from ..evidence.files import fsync_dir
from ..evidence.manifest import file_entry
from ..evidence.store import EvidenceStore
from ..link.outbox import connect
from .recorder import RecorderId, identify, media_files

log = logging.getLogger("edge.dock")

SCHEMA = """
CREATE TABLE IF NOT EXISTS ingested (
    serial TEXT NOT NULL,
    source TEXT NOT NULL,        -- path relative to the recorder's root
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    sha256 TEXT NOT NULL,
    bundle TEXT,                 -- the custody bundle that holds it (NULL until sealed)
    removed REAL,                -- deleted from the recorder after the hub verified it
    PRIMARY KEY (serial, source, size, mtime)
);
"""
CHUNK = 4 * 1024 * 1024


class Unplugged(Exception):
    """The recorder went away during a copy."""


@dataclass
class Progress:
    name: str
    done: int
    total: int
    started: float

    def line(self) -> str:
        rate = self.done / max(time.monotonic() - self.started, 1e-6) / 1e6
        return f"copying {self.name}: {100 * self.done // max(self.total, 1)}% ({self.done / 1e6:.0f} of " \
               f"{self.total / 1e6:.0f} MB, {rate:.0f} MB/s)"


class Dock:
    def __init__(self, mount_dir: Path, state_dir: Path, store: EvidenceStore, key, *, node: str, tz: ZoneInfo,
                 on_sealed: Callable[[str, str], None] | None = None, delete_after_upload: bool = False,
                 progress_every_s: float = 5.0):
        self.mount_dir = mount_dir
        self.spool = state_dir / "dock-spool"  # partial copies, until they are whole
        self.spool.mkdir(parents=True, exist_ok=True)
        self.store = store
        self.key = key
        self.node = node
        self.tz = tz
        self.on_sealed = on_sealed
        self.delete_after_upload = delete_after_upload
        self.progress_every_s = progress_every_s
        self._db = connect(state_dir / "dock.db")
        with self._db:
            self._db.execute(SCHEMA)
        self.read_hook: Callable[[Path, int], None] | None = None  # tests: simulate a pulled recorder
        self.on_progress: Callable[[], None] | None = None  # each block copied or checked (the watchdog)

    # --- scanning ----------------------------------------------------------------------------
    def recorders(self) -> list[Path]:
        try:
            return sorted(p for p in self.mount_dir.iterdir() if p.is_dir())
        except OSError:
            return []

    def scan(self) -> list[str]:
        """One pass over every docked recorder; returns the bundles sealed."""
        sealed = []
        for root in self.recorders():
            try:
                bundle = self.ingest(root)
            except Unplugged as exc:
                log.warning("dock: %s was unplugged during a copy (%s); it resumes when it is back", root.name, exc)
                continue
            if bundle:
                sealed.append(bundle)
        self.remove_verified()
        return sealed

    def _known(self, serial: str, source: str, size: int, mtime: float) -> bool:
        return self._db.execute("SELECT 1 FROM ingested WHERE serial=? AND source=? AND size=? AND mtime=?",
                                (serial, source, size, mtime)).fetchone() is not None

    def ingest(self, root: Path) -> str | None:
        """Copy a recorder's new recordings and seal them as one custody bundle."""
        recorder = identify(root)
        new = []
        for path in media_files(root):
            try:
                st = path.stat()
            except FileNotFoundError as exc:
                raise Unplugged(str(exc)) from None
            source = path.relative_to(root).as_posix()
            if not self._known(recorder.serial, source, st.st_size, st.st_mtime):
                new.append((path, source, st))
        if not new:
            return None
        log.info("dock: recorder %s (officer %s, %s): %d new recording(s)", recorder.serial,
                 recorder.officer or "unknown", recorder.identified_by, len(new))
        ingested_at = time.time()
        bundle_id = f"{self.node}-dock-{recorder.serial}-{datetime.fromtimestamp(ingested_at, self.tz):%Y%m%dT%H%M%S}"
        copies = []
        for path, source, st in new:
            copies.append((source, st, *self._copy(recorder, path, source, st)))
        # Every file is whole in the spool: now (and only now) they become evidence.
        facts = self._custody(recorder, root, ingested_at)
        folder = self.store.open(bundle_id, facts)
        files = []
        for i, (source, st, spooled, digest) in enumerate(copies):
            name = f"{i + 1:04d}_{Path(source).name}"
            os.replace(spooled, folder / name)
            self._progress()
            files.append(file_entry(folder, name, "dock", source=source,
                                    recorded_at=datetime.fromtimestamp(st.st_mtime, self.tz).isoformat()))
            if files[-1]["sha256"] != digest:
                raise OSError(f"{name}: changed between the copy and sealing")
        fsync_dir(folder)
        manifest_sha = self.store.seal(bundle_id, facts, files, self.key)
        with self._db:
            for source, st, _, digest in copies:
                self._db.execute("INSERT OR IGNORE INTO ingested (serial, source, size, mtime, sha256, bundle) "
                                 "VALUES (?,?,?,?,?,?)", (recorder.serial, source, st.st_size, st.st_mtime, digest,
                                                          bundle_id))
        log.info("dock: custody bundle %s sealed: %d file(s) from recorder %s", bundle_id, len(files), recorder.serial)
        if self.on_sealed is not None:
            self.on_sealed(bundle_id, manifest_sha)
        return bundle_id

    def _custody(self, recorder: RecorderId, root: Path, ingested_at: float) -> dict:
        return {
            "node": self.node, "kind": "dock", "rule": "dock_ingest", "zone": None,
            "recorder": {"serial": recorder.serial, "officer": recorder.officer,
                         "identified_by": recorder.identified_by, "mounted_as": root.name},
            "custody": {"received_by": self.node, "received_at": datetime.fromtimestamp(ingested_at, self.tz)
                        .isoformat(timespec="seconds"), "method": "copied from the recorder's storage, hashed "
                        "while read, written, synced and read back"},
        }

    # --- copying ----------------------------------------------------------------------------------
    def _copy(self, recorder: RecorderId, path: Path, source: str, st) -> tuple[Path, str]:
        """Copy one recording into the spool; resumes a partial copy of the same recording."""
        key = hashlib.sha256(f"{recorder.serial}|{source}|{st.st_size}|{st.st_mtime}".encode()).hexdigest()[:24]
        part = self.spool / f"{key}.part"
        digest = hashlib.sha256()
        done = 0
        if part.exists():  # an earlier copy stopped when the recorder was pulled: carry on
            with open(part, "rb") as f:
                while block := f.read(CHUNK):
                    digest.update(block)
                    done += len(block)
                    self._progress()
            if done > st.st_size:
                part.unlink()
                digest, done = hashlib.sha256(), 0
            else:
                log.info("dock: resuming %s at %d of %d bytes", source, done, st.st_size)
        progress = Progress(source, done, st.st_size, time.monotonic())
        last_report = time.monotonic()
        try:
            with open(path, "rb") as src, open(part, "ab") as dst:
                src.seek(done)
                while True:
                    if self.read_hook is not None:
                        self.read_hook(path, progress.done)
                    block = src.read(CHUNK)
                    if not block:
                        break
                    dst.write(block)
                    digest.update(block)
                    progress.done += len(block)
                    self._progress()
                    if time.monotonic() - last_report >= self.progress_every_s:
                        log.info("dock: %s", progress.line())
                        last_report = time.monotonic()
                dst.flush()
                os.fsync(dst.fileno())
        except OSError as exc:  # the recorder went away (ENOENT, EIO, ENODEV ...)
            raise Unplugged(f"{source}: {exc.strerror or exc}") from None
        if progress.done != st.st_size:
            raise Unplugged(f"{source}: {progress.done} of {st.st_size} bytes readable")
        check = hashlib.sha256()
        with open(part, "rb") as f:  # read the copy back: what is on our disk is what was read
            while block := f.read(CHUNK):
                check.update(block)
                self._progress()
        if check.hexdigest() != digest.hexdigest():
            part.unlink()
            raise OSError(f"{source}: the copy does not read back as written")
        if st.st_size > 64 * 1024 * 1024:
            log.info("dock: %s", progress.line())
        return part, digest.hexdigest()

    def _progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress()

    # --- after the hub verified ---------------------------------------------------------------
    def remove_verified(self) -> int:
        """Delete from docked recorders the recordings whose bundle the hub has verified."""
        if not self.delete_after_upload:
            return 0
        removed = 0
        for root in self.recorders():
            recorder = identify(root)
            rows = self._db.execute("SELECT source, size, mtime, bundle FROM ingested WHERE serial = ? AND "
                                    "removed IS NULL AND bundle IS NOT NULL", (recorder.serial,)).fetchall()
            for source, size, mtime, bundle in rows:
                row = self.store.get(bundle)
                if row is None or not row.acked:
                    continue
                path = root / source
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                if st.st_size != size or st.st_mtime != mtime:
                    continue  # not the recording we took
                path.unlink()
                removed += 1
                with self._db:
                    self._db.execute("UPDATE ingested SET removed = ? WHERE serial = ? AND source = ? AND size = ? "
                                     "AND mtime = ?", (time.time(), recorder.serial, source, size, mtime))
                log.info("dock: removed %s from recorder %s (verified by the hub in %s)", source, recorder.serial,
                         bundle)
        return removed

    def status(self) -> dict:
        count = self._db.execute("SELECT count(*), coalesce(sum(size), 0) FROM ingested").fetchone()
        return {"recorders": len(self.recorders()), "files_ingested": count[0], "bytes_ingested": count[1]}

    def close(self) -> None:
        self._db.close()
