"""[dock]: where body-worn recorders appear when docked."""

from __future__ import annotations

from pathlib import Path

from pydantic import PositiveFloat

from .base import Section


class DockConfig(Section):
    # Folder under which each recorder mounts as USB mass storage.
    mount_dir: Path
    # Remove files from a recorder once the hub has verified them.
    delete_after_upload: bool = False
    scan_interval_s: PositiveFloat = 5.0  # how often to look for docked recorders and new files
