"""The map's local base from one MBTiles file: rows in TMS order come out in Leaflet's XYZ order, a
tile the file lacks is a 404 (None), a file that is not MBTiles is one clear error."""

from __future__ import annotations

import sqlite3

import cv2
import numpy as np
import pytest

from edge.hub.console.tiles import TileError, read_tile


def png(colour) -> bytes:
    ok, data = cv2.imencode(".png", np.full((256, 256, 3), colour, np.uint8))
    assert ok
    return data.tobytes()


def make_mbtiles(path, tiles: dict[tuple[int, int, int], bytes], fmt="png") -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    db.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB)")
    db.executemany("INSERT INTO metadata VALUES (?, ?)", [("name", "site"), ("format", fmt)])
    for (z, x, y), data in tiles.items():  # y in XYZ order; stored as TMS rows (from the south)
        db.execute("INSERT INTO tiles VALUES (?, ?, ?, ?)", (z, x, (1 << z) - 1 - y, data))
    db.commit()
    db.close()


def test_mbtiles_rows_are_served_in_xyz_order(tmp_path):
    north, south = png((10, 20, 30)), png((200, 210, 220))
    path = tmp_path / "site.mbtiles"
    make_mbtiles(path, {(15, 27374, 13358): north, (15, 27374, 13359): south})
    assert read_tile(path, 15, 27374, 13358) == (north, "image/png")
    assert read_tile(path, 15, 27374, 13359) == (south, "image/png")
    assert read_tile(path, 15, 27375, 13358) is None  # not in the file: the map shows the outline base there
    assert read_tile(path, 15, 1 << 15, 0) is None  # outside the zoom level's grid


def test_a_jpeg_mbtiles_says_so_and_a_folder_still_works(tmp_path):
    path = tmp_path / "photo.mbtiles"
    make_mbtiles(path, {(3, 1, 2): b"\xff\xd8jpeg"}, fmt="jpg")
    assert read_tile(path, 3, 1, 2) == (b"\xff\xd8jpeg", "image/jpeg")
    folder = tmp_path / "tiles"
    (folder / "3" / "1").mkdir(parents=True)
    (folder / "3" / "1" / "2.png").write_bytes(png((1, 2, 3)))
    assert read_tile(folder, 3, 1, 2)[1] == "image/png"
    assert read_tile(folder, 3, 1, 3) is None


def test_a_file_that_is_not_mbtiles_is_one_clear_error(tmp_path):
    bad = tmp_path / "broken.mbtiles"
    bad.write_bytes(b"not a database at all" * 100)
    with pytest.raises(TileError, match="broken.mbtiles"):
        read_tile(bad, 1, 0, 0)
    with pytest.raises(TileError, match="no such MBTiles file"):
        read_tile(tmp_path / "missing.mbtiles", 1, 0, 0)
