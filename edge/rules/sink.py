"""Local lifecycle sink: one JSON line per event, appended and synced.

This file is the node's own record of what it decided, written just before the message is
committed to the link's outbox.  Each line is written whole and fsynced; a line torn by a power cut
or a full disk is set aside at the next start (cut off, saved to lifecycle.jsonl.torn where there is
room, one warning), so it never swallows the line after it and never blocks the start, and at
start-up the link re-queues any recent line its outbox never took (a power cut between the two writes).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

log = logging.getLogger("edge.rules.sink")


class JsonlSink:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        self._lock = threading.Lock()  # the evidence writer delivers from its own thread
        set_aside_torn_line(self.path)

    def write(self, message: dict) -> None:
        line = (json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        with self._lock:
            os.write(self._fd, line)
            os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


def set_aside_torn_line(path: Path, window: int = 1 << 16) -> bytes | None:
    """Cut a last line without its newline off the file (a write torn by a power cut or a full disk)
    and keep it in PATH.torn where there is room; returns it, or None when the file ends whole.
    Cutting needs no disk space, so a full disk cannot stop the node's start here."""
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return None
        f.seek(max(0, size - window))
        tail = f.read()
    if tail.endswith(b"\n"):
        return None
    cut = tail.rfind(b"\n")
    if cut < 0 and size > window:
        return None  # one line longer than the window: leave it to the reader, which skips it
    torn = tail[cut + 1:]
    kept = "kept in " + path.name + ".torn"
    try:
        with open(path.with_name(path.name + ".torn"), "ab") as aside:
            aside.write(torn + b"\n")
            aside.flush()
            os.fsync(aside.fileno())
    except OSError as exc:
        kept = f"not kept ({exc.strerror or exc}): {torn[:200]!r}"
    os.truncate(path, size - len(torn))
    log.warning("lifecycle log: its last line was torn (%d bytes, a power cut or a full disk); set aside, %s",
                len(torn), kept)
    return torn


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
