"""The map's optional local base: a tile folder (Z/X/Y.png) or one MBTiles file, read by the hub.

MBTiles (a SQLite file, the format tile tools export to) keeps rows in TMS order, y counted from
the south, while Leaflet asks in XYZ order (from the north): the row is flipped here.  The file is
opened read-only, once per request (cheap for SQLite, and no handle outlives a replaced file).
PMTiles is not read directly: `pmtiles convert` makes an MBTiles file of it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

MEDIA = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}


class TileError(Exception):
    """The configured tile source cannot be read (one line for the log and the HTTP answer)."""


def is_mbtiles(path: Path) -> bool:
    return path.suffix.lower() == ".mbtiles"


def read_tile(source: Path, z: int, x: int, y: int) -> tuple[bytes, str] | None:
    """The tile's bytes and media type, or None where the source has no such tile."""
    if z < 0 or z > 22 or not (0 <= x < 1 << z) or not (0 <= y < 1 << z):
        return None
    if not is_mbtiles(source):
        path = source / str(z) / str(x) / f"{y}.png"
        return (path.read_bytes(), "image/png") if path.is_file() else None
    if not source.is_file():
        raise TileError(f"{source}: no such MBTiles file")
    try:
        db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise TileError(f"{source}: {exc}") from None
    try:
        row = db.execute("SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
                         (z, x, (1 << z) - 1 - y)).fetchone()
        if row is None:
            return None
        fmt = db.execute("SELECT value FROM metadata WHERE name = 'format'").fetchone()
    except sqlite3.Error as exc:
        raise TileError(f"{source}: not an MBTiles file ({exc})") from None
    finally:
        db.close()
    return bytes(row[0]), MEDIA.get(str(fmt[0]).lower() if fmt else "png", "image/png")
