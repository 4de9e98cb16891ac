#!/usr/bin/env python3
"""Screenshots of each console page for docs/console.md (docs/img/console/*.png), taken in headless
Chromium at 1366x768 against the browser tests' rig (mosquitto, `edge-hub serve`, a simulated node).

Usage: PYTHONPATH=. python scripts/console-screenshots.py [--out docs/img/console]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "console")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from edge.hub.service import incidents
    from tests.console_rig import Rig

    with tempfile.TemporaryDirectory(prefix="console-shots-") as tmp:
        rig = Rig(Path(tmp))
        try:
            rig.officer("wang", 30.003, 120.002)
            rig.officer("li", 30.008, 119.995)
            digest = rig.bundle_with_clip("b-0001")
            main_incident = rig.incident_of(rig.alert(zone="shore", evidence=digest))
            others = [rig.incident_of(rig.alert(zone=z, rule=r)) for z, r in
                      (("pier", "no_swimming"), ("quay", "no_fishing"), ("jetty", "no_parking"))]
            with rig.hub.db.tx() as t:
                incidents.transition(t, others[1], "acknowledged", "user:dan")
                incidents.transition(t, others[2], "dismissed", "user:dan", reason="wrong_object")
            context = rig.browser.new_context(viewport={"width": 1366, "height": 768}, base_url=rig.base)
            page = context.new_page()
            page.goto("/console/login")
            page.screenshot(path=args.out / "login.png")
            page = rig.page("dan")
            page.wait_for_selector("#rows tr.incident")
            page.keyboard.press("j")
            page.screenshot(path=args.out / "queue.png")
            page.goto(f"/console/incidents/{main_incident}")
            page.wait_for_selector("#badge .badge")
            page.click("#speak-clip")
            page.wait_for_selector("#commands li[data-state='done']")
            page.click("#badge summary")
            page.screenshot(path=args.out / "incident.png", full_page=True)
            page.goto("/console/map")
            page.wait_for_function("window.edgeMapState && edgeMapState.loads >= 1")
            page.wait_for_timeout(500)
            page.screenshot(path=args.out / "map.png")
            page.goto("/console/nodes")
            page.screenshot(path=args.out / "nodes.png")
            admin = rig.page("admin")
            admin.goto("/console/nodes/n1/zones")
            with admin.expect_navigation():
                admin.click("#snap")
            admin.wait_for_selector("#shapes circle.vertex")
            admin.screenshot(path=args.out / "zones.png")
            admin.goto("/console/admin")
            admin.screenshot(path=args.out / "admin.png")
            page.goto("/console/stats")
            page.screenshot(path=args.out / "stats.png", full_page=True)
            page.goto("/console/?lang=en")
            page.wait_for_selector("#rows tr.incident")
            page.screenshot(path=args.out / "queue-en.png")
        finally:
            rig.close()
    for p in sorted(args.out.glob("*.png")):
        print(p.relative_to(REPO) if p.is_relative_to(REPO) else p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
