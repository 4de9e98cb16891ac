"""[console] of hub.toml: what the web console shows beyond the API (site outlines for the offline
map, an optional local tile source, the speaker clips a node has, the node profiles the zone editor
edits).  Every path is relative to hub.data_dir like the rest of hub.toml."""

from __future__ import annotations

from pydantic import Field

from ...config.base import Section


class ConsoleSection(Section):
    enabled: bool = True
    # GeoJSON (a FeatureCollection of the sites' outlines: river banks, squares, roads) drawn as the
    # map's plain base; no tile is ever fetched from the internet.
    sites: str | None = Field(default=None, description="GeoJSON file of site outlines (the default map base)")
    # Local map tiles, served by the hub under /console/tiles/: a folder laid out as Z/X/Y.png, or one
    # MBTiles file (name ending .mbtiles; a PMTiles file becomes one with `pmtiles convert`).
    tiles: str | None = Field(default=None, description="folder of Z/X/Y.png tiles or an .mbtiles file")
    tiles_max_zoom: int = Field(default=18, ge=0, le=22)
    # The clips every node's speaker holds (firmware_config/audio/manifest.toml), offered by the speak button.
    clips: tuple[str, ...] = ("no_fishing", "no_boats", "no_stall", "no_parking", "keep_out", "cooperate")
    # The node profiles (NODE.toml) the zone editor edits; the copy is replaced once the node applied it.
    profiles: str = "profiles"
    sound: bool = Field(default=True, description="a short tone in the browser on each new alert")
