"""The small things every part of the node and the hub does the same way: write a file so that a
crash never leaves half of it under its name, hash a file, open a state database, stamp a time.

- `write_atomic`: temporary name, fsync the file, rename, fsync the folder (a power cut after the
  rename must not lose it either).  A disk that fills up mid-write raises OSError and leaves
  nothing behind.
- `connect_sqlite`: the durability settings of every state database (WAL, synchronous=FULL).
- `sha256_file`, and the wire's time stamps (`now_iso`, `iso`, from edge.contract.timefmt).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from .contract.timefmt import iso, now_iso, utc_now_iso

__all__ = ["PART", "connect_sqlite", "finish_atomic", "fsync_dir", "iso", "now_iso", "sha256_bytes", "sha256_file",
           "utc_now_iso", "write_atomic"]

PART = ".part"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes | str, mode: int = 0o640, *, sync: bool = True, hidden: bool = False,
                 chmod: bool = False, owner: tuple[int, int] | None = None, mkdir: bool = False) -> None:
    """Never a half file under `path`; with `sync`, also on disk when this returns.

    `hidden`: the temporary name starts with a dot (folders others scan, e.g. a bundle's output);
    `chmod`: set `mode` exactly, whatever the umask (keys, certificates); `owner`: (uid, gid)."""
    path = Path(path)
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    tmp = path.with_name(f".{path.name}{PART}" if hidden else path.name + PART)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        if owner is not None:
            os.chown(tmp, *owner)
        if chmod:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if sync:
        fsync_dir(path.parent)


def finish_atomic(tmp: Path, path: Path) -> None:
    """A file written by someone else to `tmp` (a muxer): fsync it, rename it, fsync the folder."""
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(Path(path).parent)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def connect_sqlite(path: str | Path):
    """A connection with the durability settings every state database here uses.

    The write-ahead log is checkpointed every 128 pages and cut back to 512 KiB after each checkpoint:
    left alone it stays at its largest size (4 MiB and more per database), which on a small or full
    disk is room the evidence needs."""
    import apsw

    db = apsw.Connection(str(path))
    db.setbusytimeout(10_000)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA wal_autocheckpoint=128")
    db.execute(f"PRAGMA journal_size_limit={512 * 1024}")
    return db


class WriteTrouble:
    """A state file whose write may fail for a while (a full disk) without stopping the node.

    Why one helper: the node writes several such files (health, the model rollout's state); each must
    say once that its writes fail, not once a second, and say when they work again.  `failed(exc)`
    logs the first failure of each kind (by strerror) at `level`; `ok()` logs the recovery once."""

    def __init__(self, log, what: str, meanwhile: str, level: int = 30):
        self.log, self.what, self.meanwhile, self.level = log, what, meanwhile, level
        self.problem: str | None = None

    def failed(self, exc: OSError) -> None:
        problem = exc.strerror or str(exc)
        if problem != self.problem:
            self.log.log(self.level, "%s: %s; %s", self.what, problem, self.meanwhile)
        self.problem = problem

    def ok(self) -> None:
        if self.problem is not None:
            self.log.warning("%s: written again", self.what)
            self.problem = None
