"""System figures for the stats message: free disk, CPU temperature, uptime."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

_BOOT = time.monotonic()
THERMAL = Path("/sys/class/thermal")


def cpu_temperature_c() -> float | None:
    """The hottest thermal zone (the SoC on a Pi), or None where none is readable."""
    best = None
    for zone in THERMAL.glob("thermal_zone*/temp"):
        try:
            value = int(zone.read_text().strip()) / 1000.0
        except (OSError, ValueError):
            continue
        best = value if best is None else max(best, value)
    return best


def free_disk_bytes(path: str | os.PathLike) -> int | None:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def uptime_s() -> float:
    return round(time.monotonic() - _BOOT, 1)
