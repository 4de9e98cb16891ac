"""Local lifecycle sink: one JSON line per event, appended and synced.

This file is the node's own record of what it decided, written just before the message is
committed to the link's outbox.  Each line is written whole and fsynced; a line torn by a power cut
is ended at the next start so that it never swallows the line after it, and at start-up the link
re-queues any recent line its outbox never took (a power cut between the two writes).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path


class JsonlSink:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        self._lock = threading.Lock()  # the evidence writer delivers from its own thread
        with open(self.path, "rb") as f:
            if f.seek(0, os.SEEK_END) and (f.seek(-1, os.SEEK_END), f.read(1))[1] != b"\n":
                os.write(self._fd, b"\n")  # end a line torn by a power cut: it is skipped when read
                os.fsync(self._fd)

    def write(self, message: dict) -> None:
        line = (json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        with self._lock:
            os.write(self._fd, line)
            os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


def read_events(path: str | Path) -> list[dict]:
    """Every whole line of a sink file (a torn last line after a power cut is skipped)."""
    with open(path, "rb") as f:
        return _parse(f.read())


def tail_events(path: str | Path, max_bytes: int = 1 << 20) -> list[dict]:
    """The whole lines among the last `max_bytes` of a sink file ([] when there is none)."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except FileNotFoundError:
        return []
    if size > max_bytes:
        data = data[data.find(b"\n") + 1:]  # the first line was cut by the window
    return _parse(data)


def _parse(data: bytes) -> list[dict]:
    events = []
    for line in data.split(b"\n")[:-1]:  # what follows the last newline is not a whole line
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events
