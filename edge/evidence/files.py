"""Writing evidence files so that a crash never leaves a half file under its final name.

Every file goes to NAME.part, is fsynced, renamed, and its folder fsynced.  A disk that fills up
mid-write raises OSError after the partial file is removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

PART = ".part"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, mode: int = 0o640, sync: bool = True) -> None:
    """Never a half file under `path`; with sync, also on disk when this returns."""
    tmp = path.with_name(path.name + PART)
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
    fsync_dir(path.parent)


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def remove_partials(folder: Path) -> list[str]:
    removed = []
    for part in folder.glob(f"*{PART}"):
        with contextlib.suppress(OSError):
            part.unlink()
            removed.append(part.name)
    return removed
