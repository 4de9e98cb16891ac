"""One node per state folder: an advisory lock held for the life of the process.

Two nodes on one folder both append to the same evidence chain and outbox; the second one's seal then
fails on `UNIQUE constraint failed: chain.seq`. The lock (flock on `{state_dir}/node.lock`, released
by the kernel when the process dies, so a kill -9 never leaves it stale) turns that into one line at
start-up: "state dir ... in use by pid N".
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

_held: list[int] = []  # file descriptors kept open until the process exits


class StateDirBusy(Exception):
    pass


def lock_state_dir(state_dir: Path) -> None:
    path = state_dir / "node.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            pid = os.pread(fd, 32, 0).decode().strip() or "?"
        finally:
            os.close(fd)
        raise StateDirBusy(f"state dir {state_dir} in use by pid {pid} (one node per state folder)") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _held.append(fd)


def release_all() -> None:
    while _held:
        os.close(_held.pop())
