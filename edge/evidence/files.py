"""Writing evidence files so that a crash never leaves a half file under its final name.

Every file goes to NAME.part, is fsynced, renamed, and its folder fsynced.  A disk that fills up
mid-write raises OSError after the partial file is removed.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from ..util import PART, finish_atomic, fsync_dir, write_atomic
from ..util import sha256_file as sha256_of

__all__ = ["PART", "finish_atomic", "fsync_dir", "remove_partials", "sha256_of", "write_atomic"]


def remove_partials(folder: Path) -> list[str]:
    removed = []
    for part in folder.glob(f"*{PART}"):
        with contextlib.suppress(OSError):
            part.unlink()
            removed.append(part.name)
    return removed
