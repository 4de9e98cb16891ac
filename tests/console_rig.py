"""The browser tests' one rig for the whole session: ONE mosquitto, ONE `edge-hub serve` (the
service's own builder, SQLite store, console mounted), one simulated node (edge.link.NodeLink with
handlers that answer like a camera node, and apply a new profile's zones after validating it as the
node does), and ONE headless Chromium (Debian's, driven by Playwright).

Every test module imports the `console` fixture from here; the rig is built once (module global)
however many modules import it, and torn down at the end of the session."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest

from .hub_rig import Publisher, RunningHub, lifecycle

PASSWORD = "correct horse 1"
VIEWPORT = {"width": 1366, "height": 768}
CHROMIUM = "/usr/bin/chromium"

PROFILE = """[node]
id = "n1"
kind = "camera"

[capture]
source = "usb:0"

[[zones]]
name = "shore"
polygon = [[0.1, 0.5], [0.9, 0.5], [0.9, 0.95], [0.1, 0.95]]

[[rules]]
name = "no_fishing"
kind = "fishing"
zones = ["shore"]
"""

SITES = """{"type": "FeatureCollection", "features": [
 {"type": "Feature", "properties": {"name": "west bank"},
  "geometry": {"type": "Polygon", "coordinates": [[[119.99, 29.99], [120.01, 29.99], [120.01, 30.01],
                                                   [119.99, 30.01], [119.99, 29.99]]]}}]}"""

CONSOLE_TOML = """
[console]
sites = "sites.geojson"
tiles = "tiles"
profiles = "profiles"

[[nodes]]
id = "n1"
lat = 30.0
lon = 120.0
name = "west bank"
"""

_rig: Rig | None = None


class Rig:
    def __init__(self, folder: Path):
        from .broker import Broker
        from .test_hub_service_node import Node

        self.folder = folder
        self.broker = Broker(folder / "broker").start()
        hub_dir = folder / "hub"
        hub_dir.mkdir(parents=True)
        (hub_dir / "sites.geojson").write_text(SITES)
        (hub_dir / "profiles").mkdir()
        (hub_dir / "profiles" / "n1.toml").write_text(PROFILE)
        make_tiles(hub_dir / "tiles")
        self.hub = RunningHub(hub_dir, self.broker, str(hub_dir / "hub.db"), api_extra=CONSOLE_TOML)
        self.prefix = self.hub.prefix
        self.node = Node(folder, self.hub, self.broker)
        self.applied: list[list[dict]] = []  # the zones of each profile the node applied
        self.node.link.router.register("config", self._config)
        self.pub = Publisher(self.broker, f"{self.prefix}-pub")
        self.stats()
        from edge.hub.service import auth

        for name, role in (("admin", "admin"), ("dan", "dispatcher"), ("vera", "viewer")):
            auth.add_user(self.hub.db, name, PASSWORD, role)
        from playwright.sync_api import sync_playwright

        self.playwright = sync_playwright().start()
        self.browser = self.playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox",
                                                       "--autoplay-policy=no-user-gesture-required"])
        self._count = 0
        self._signed_in: dict[str, dict] = {}

    def _config(self, command, reply):
        """As the node's config handler (edge/node.py): validate the whole profile, then apply it."""
        from edge.config import ConfigError, load_profile

        path = self.folder / "node-profile.toml"
        try:
            new = load_profile(path, text=command.args["toml"], check_files=False)
        except ConfigError as exc:
            reply(False, "invalid profile, nothing changed: " + "; ".join(str(p) for p in exc.problems[:5]), None)
            return
        path.write_text(command.args["toml"])
        self.applied.append([{"name": z.name, "polygon": [list(p) for p in z.polygon or ()]} for z in new.zones])
        reply(True, None, {"applied": ["zones", "rules", "track"], "restart_required": []})

    # --- helpers the tests use --------------------------------------------------------------------
    def stats(self, **extra) -> None:
        """The node's health figures, with the keys edge/node.py sends."""
        self.pub.send(f"{self.prefix}/n1/stats", {"ts": _iso(), "fps": 9.5, "frames": 100, "dropped": 0,
                                                  "source": "streaming", "uptime_s": 60, "inference_ms": 41.0,
                                                  "disk_free_bytes": 12_500_000_000, "cpu_temp_c": 51.0,
                                                  "outbox_depth": 2, "outbox_awaiting_receipt": 1,
                                                  "model": "yolo11n-fishing", "healthy": True, **extra})

    @property
    def base(self) -> str:
        return self.hub.base

    def page(self, user: str = "dan"):
        """A new browser context (its own cookies and storage) signed in as `user`: through the login
        page the first time, then with that sign-in's cookies (the hub allows 5 logins a minute)."""
        if user in self._signed_in:
            context = self.browser.new_context(viewport=VIEWPORT, base_url=self.base,
                                               storage_state=self._signed_in[user])
            page = context.new_page()
            page.goto("/console/")
        else:
            context = self.browser.new_context(viewport=VIEWPORT, base_url=self.base)
            page = context.new_page()
            page.goto("/console/")
            assert "/console/login" in page.url
            page.fill("input[name=username]", user)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{self.base}/console/")
            self._signed_in[user] = context.storage_state()
        page.wait_for_function("document.body.dataset.live === '1'")  # the event stream is open
        return page

    def alert(self, *, zone: str = "shore", evidence: str | None = None, stage: str = "alert",
              vid: str | None = None, **kw) -> str:
        """Publish a lifecycle message as the node does; its violation id."""
        self._count += 1
        vid = vid or f"v{self._count}-{int(time.time() * 1000) % 10**8}"
        self.pub.send(f"{self.prefix}/n1/alert", lifecycle(vid, stage, zone=zone, evidence=evidence, **kw))
        return vid

    def incident_of(self, vid: str, timeout: float = 10) -> int:
        found: list[int] = []

        def look() -> bool:
            rows = self.hub.db.query("SELECT incident FROM violations WHERE id = ?", (vid,))
            found.extend(int(r[0]) for r in rows)
            return bool(rows)
        assert self.hub.wait(look, timeout), f"no incident for {vid}"
        return found[0]

    def bundle_with_clip(self, name: str) -> str:
        """A sealed evidence bundle (a real H.264 clip, a clean and an annotated JPEG) uploaded by the
        node; its manifest digest once the hub has verified it."""
        import cv2
        import numpy as np

        from edge.evidence.manifest import file_entry

        from .conftest import level_video

        folder = self.node.store.open(name, {"node": "n1", "rule": "no_fishing"})
        level_video(folder / "clip.mp4", n=20, fps=10)
        picture = np.zeros((240, 320, 3), np.uint8)
        picture[80:160, 100:220] = (0, 0, 255)
        cv2.imwrite(str(folder / "snapshot_best.jpg"), picture)
        cv2.rectangle(picture, (100, 80), (220, 160), (0, 255, 0), 2)
        cv2.imwrite(str(folder / "snapshot_best_annotated.jpg"), picture)
        files = [file_entry(folder, "clip.mp4", "clip"),
                 file_entry(folder, "snapshot_best.jpg", "snapshot", annotated=False),
                 file_entry(folder, "snapshot_best_annotated.jpg", "snapshot", annotated=True)]
        digest = self.node.store.seal(name, {"node": "n1"}, files, self.node.key)
        self.node.link.queue_bundle(folder, digest)
        root = self.hub.folder / "evidence"
        from edge.hub.service.evidence import list_bundles

        assert self.hub.wait(lambda: any(b["bundle"] == name and b["state"] == "verified"
                                         for b in list_bundles(root, "n1")), 30), "the bundle was not verified"
        return digest

    def officer(self, oid: str, lat: float, lon: float) -> None:
        from edge.hub.service import officers

        with self.hub.db.tx() as t:
            if not t.one("SELECT 1 FROM officers WHERE id = ?", (oid,)):
                officers.register(t, oid, f"Officer {oid}", oid.upper(), f"dev-{oid}")
        self.position(oid, lat, lon)

    def position(self, oid: str, lat: float, lon: float) -> None:
        self.pub.send(f"{self.prefix}/officer/{oid}/position", {"lat": lat, "lon": lon, "ts": _iso(),
                                                                "available": True})

    def close(self) -> None:
        for step in (self.browser.close, self.playwright.stop, self.pub.close, self.node.close, self.hub.stop,
                     self.broker.stop):
            with contextlib.suppress(Exception):  # teardown goes on; a test reported what matters
                step()


def _iso() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="milliseconds")


def make_tiles(folder: Path, zooms=(14, 15, 16), box=(29.98, 119.98, 30.02, 120.02)) -> None:
    """A tiny tile set (Z/X/Y.png, web-mercator numbering) over the test site: the folder an operator
    may point [console] tiles at instead of the outline base."""
    import math

    import cv2
    import numpy as np

    def tile_of(lat: float, lon: float, z: int) -> tuple[int, int]:
        n = 2 ** z
        y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
        return int((lon + 180) / 360 * n), int(y)

    for z in zooms:
        (x0, y1), (x1, y0) = tile_of(box[0], box[1], z), tile_of(box[2], box[3], z)
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                (folder / str(z) / str(x)).mkdir(parents=True, exist_ok=True)
                tile = np.full((256, 256, 3), (200, 220 - 10 * (x % 4), 180 + 10 * (y % 4)), np.uint8)
                cv2.imwrite(str(folder / str(z) / str(x) / f"{y}.png"), tile)


@pytest.fixture(scope="session")
def console(tmp_path_factory, request) -> Rig:
    """The session's rig (built on first use; see the module docstring)."""
    global _rig
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make test-deps)")
    if _rig is None:
        _rig = Rig(tmp_path_factory.mktemp("console"))
        request.addfinalizer(_close)
    return _rig


def _close() -> None:
    global _rig
    if _rig is not None:
        _rig.close()
        _rig = None
