"""Opening a node's evidence index without writing to its folder.

`edge-node evidence list|verify|export` must work on a read-only mount (the "when a box dies"
procedure) and must not disturb a running node. SQLite in WAL mode needs to write a `-shm` file even
to read, and after a power cut the newest rows may still be in `-wal` only. So: where the folder is
writable, an ordinary read-only connection; where it is not, a private copy of the database and its
WAL in a temporary folder (the copy replays the WAL; nothing on the card changes).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import quote

import apsw


def open_for_reading(db: Path) -> apsw.Connection:
    if not db.exists():
        raise FileNotFoundError(f"{db}: no such file")
    if os.access(db.parent, os.W_OK) and os.access(db, os.W_OK):
        conn = apsw.Connection(f"file:{quote(str(db))}?mode=ro", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    else:
        scratch = Path(tempfile.mkdtemp(prefix="edge-evidence-"))
        atexit.register(shutil.rmtree, scratch, True)
        for suffix in ("", "-wal"):
            src = db.with_name(db.name + suffix)
            if src.exists():
                shutil.copyfile(src, scratch / src.name)
        conn = apsw.Connection(str(scratch / db.name))
    conn.setbusytimeout(10_000)
    return conn
