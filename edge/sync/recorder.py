"""Who a docked body-worn recorder is: device serial and officer number.

GA/T 947 recorders identify themselves by a product serial (产品序号 / device id) and the officer's
number (警号 / police id).  Models expose them in an info file at the root of the storage (key=value
lines, an INI section, or JSON, under one of several names), in the folder name the dock mounts them
under (`SERIAL_OFFICER`), or in their file names (`SERIAL_OFFICER_YYYYMMDDhhmmss_NNNN.MP4`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

INFO_FILES = ("device.json", "info.json", "DEVICE.INI", "device.ini", "DEVICEINFO.TXT", "info.txt", "device.txt")
SERIAL_KEYS = ("serial", "device_id", "deviceid", "device_sn", "sn", "product_sn", "产品序号", "设备编号", "设备序号")
OFFICER_KEYS = ("officer", "police_id", "policeid", "police_no", "user_id", "userid", "警号", "警员编号")
MEDIA = {".mp4", ".mov", ".avi", ".ts", ".mkv", ".h264", ".h265", ".jpg", ".jpeg", ".png", ".wav", ".mp3", ".aac",
         ".amr"}
_FOLDER = re.compile(r"^(?P<serial>[A-Za-z0-9-]{4,32})[_@](?P<officer>[A-Za-z0-9]{3,16})$")
_FILE = re.compile(r"^(?P<serial>[A-Za-z0-9-]{4,32})_(?P<officer>[A-Za-z0-9]{3,16})_\d{14}")


@dataclass(frozen=True)
class RecorderId:
    serial: str
    officer: str | None
    identified_by: str


def _pairs(text: str) -> dict[str, str]:
    try:
        data = json.loads(text)
        if isinstance(data, dict):
            return {str(k).strip().lower(): str(v).strip() for k, v in data.items()}
    except ValueError:
        pass
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, sep, value = line.partition("=") if "=" in line else line.partition(":")
        if sep:
            out[key.strip().lower()] = value.strip().strip('"')
    return out


def identify(root: Path) -> RecorderId:
    for name in INFO_FILES:
        path = root / name
        if path.is_file():
            try:
                text = path.read_bytes().decode("utf-8", errors="replace")
            except OSError:
                continue
            pairs = _pairs(text)
            serial = next((pairs[k] for k in SERIAL_KEYS if pairs.get(k)), None)
            officer = next((pairs[k] for k in OFFICER_KEYS if pairs.get(k)), None)
            if serial:
                return RecorderId(_clean(serial), _clean(officer) if officer else None, f"info file {name}")
    m = _FOLDER.match(root.name)
    if m:
        return RecorderId(m["serial"], m["officer"], "folder name")
    for path in media_files(root):
        m = _FILE.match(path.name)
        if m:
            return RecorderId(m["serial"], m["officer"], "file names")
    return RecorderId(_clean(root.name), None, "folder name (no officer number found)")


def _clean(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", value)[:48]


def media_files(root: Path) -> list[Path]:
    """Recorded media under the recorder's root, oldest path first."""
    try:
        return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA)
    except OSError:  # unplugged while we looked
        return []
