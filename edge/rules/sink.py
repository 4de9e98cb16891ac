"""Local lifecycle sink: one JSON line per event, appended and synced.

Until the MQTT link lands this file is the node's record of what it decided; the link's outbox
drains it.  Each line is written whole and fsynced, so a power cut loses at most the event being
written, and never leaves a half line that hides the ones before it.
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

    def write(self, message: dict) -> None:
        line = (json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        with self._lock:
            os.write(self._fd, line)
            os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


def read_events(path: str | Path) -> list[dict]:
    """Every whole line of a sink file (a torn last line after a power cut is skipped)."""
    events = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.endswith("\n"):
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    return events
