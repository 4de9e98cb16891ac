"""Console benchmark in headless Chromium against a real `edge-hub serve` (its own process), mosquitto
and a simulated node (edge.link.NodeLink): prints one JSON object.

- publish_to_visible_p50_ms / _p99_ms: a node's alert published -> its row in the open queue page
  (SSE, then the rows fragment), over --alerts alerts (default 50; target p99 <= 1000 ms);
- speak_to_sound_p50_ms / _p99_ms: the speak button clicked on the incident page -> the node's speak
  handler starts (where the speaker starts playing), over --speaks clicks (target p99 <= 1500 ms);
- queue_load_ms: the queue page loaded (navigation to the load event, median of 5) with --incidents
  incidents in the store (default 10,000, a third of them open; target <= 1000 ms);
- cpu_cores, load_avg_1m (extra): what the figures were measured on.

Usage: python bench/console.py [--alerts 50] [--speaks 30] [--incidents 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

sys.path.insert(0, str(REPO / "bench"))
from hub import spawn, wait_log  # noqa: E402  (bench/hub.py: start `edge-hub serve` as a process)

from simulator.broker import Broker, free_port  # noqa: E402
from tests.hub_rig import Publisher, lifecycle, write_config  # noqa: E402

PASSWORD = "bench-password"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return round(values[lo] + (values[hi] - values[lo]) * (k - lo), 1)


def seed(db, n: int) -> None:
    """n incidents over the last 30 days, a third still open (the queue shows those)."""
    now = time.time()
    states = ("new", "acknowledged", "closed", "dismissed", "resolved", "dispatched")
    with db.tx() as t:
        for i in range(n):
            opened = now - 86400 * 30 * (i / n) - 3600
            state = states[i % len(states)]
            t.execute("INSERT INTO incidents (node, rule, kind, zone, state, level, opened_at, last_seen, messages, "
                      "violations, lat, lon, updated) VALUES (?, ?, 'fishing', ?, ?, 'alert', ?, ?, 1, 1, 30.0, "
                      "120.0, ?)", (f"seed{i % 20}", "no_fishing", f"z{i}", state, opened, opened, opened))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=50)
    parser.add_argument("--speaks", type=int, default=30)
    parser.add_argument("--incidents", type=int, default=10000)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from edge.hub.service import auth
    from edge.hub.service.db import Database
    from tests.test_hub_service_node import Node

    with tempfile.TemporaryDirectory(prefix="bench-console-") as tmp:
        folder = Path(tmp)
        broker = Broker(folder / "broker").start()
        prefix, port = "bcon", free_port()
        hub_dir = folder / "hub"
        config = write_config(hub_dir, url=str(hub_dir / "hub.db"), broker_port=broker.port, api_port=port,
                              prefix=prefix, group=prefix, ack_s=3600)
        db = Database(str(hub_dir / "hub.db"))
        db.migrate()
        auth.add_user(db, "dan", PASSWORD, "dispatcher")
        log = folder / "hub.log"
        proc = spawn(config, f"{prefix}-hub", log)
        node = pub = playwright = None
        try:
            wait_log(log, "serving")
            node = Node(folder, types.SimpleNamespace(folder=hub_dir, prefix=prefix), broker)
            started: list[float] = []

            def speak(command, reply):
                started.append(time.time())
                reply(True, None, {"played": True})
            node.link.router.register("speak", speak)
            pub = Publisher(broker, f"{prefix}-pub")
            base = f"http://127.0.0.1:{port}"
            playwright = sync_playwright().start()
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_context(viewport={"width": 1366, "height": 768}, base_url=base).new_page()
            page.goto("/console/login")
            page.fill("input[name=username]", "dan")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/console/")
            page.wait_for_function("document.body.dataset.live === '1'")
            page.evaluate("""() => { window.seen = {};
                new MutationObserver(() => { for (const r of document.querySelectorAll('#rows tr.incident'))
                    if (!(r.dataset.id in window.seen)) window.seen[r.dataset.id] = Date.now(); })
                .observe(document.getElementById('rows'), {childList: true, subtree: true}); }""")
            visible = []
            for i in range(args.alerts):
                vid = f"bench-{i}"
                t0 = time.time()
                pub.send(f"{prefix}/n1/alert", lifecycle(vid, "alert", zone=f"bench{i}"))
                deadline = time.monotonic() + 10
                incident = None
                while incident is None and time.monotonic() < deadline:
                    rows = db.query("SELECT incident FROM violations WHERE id = ?", (vid,))
                    incident = int(rows[0][0]) if rows else None
                    time.sleep(0.005)
                page.wait_for_function(f"'{incident}' in window.seen", timeout=10000)
                visible.append(page.evaluate(f"window.seen['{incident}']") - t0 * 1000)
                time.sleep(0.1)
            page.goto(f"/console/incidents/{incident}")
            page.wait_for_function("document.body.dataset.live === '1'")
            clicks = []
            for _ in range(args.speaks):
                before = len(started)
                page.wait_for_selector("#speak-clip")
                clicks.append(page.evaluate("() => { const t = Date.now(); "
                                            "document.getElementById('speak-clip').click(); return t; }"))
                deadline = time.monotonic() + 10
                while len(started) == before and time.monotonic() < deadline:
                    time.sleep(0.002)
                time.sleep(0.2)
            sound = [s * 1000 - c for s, c in zip(started, clicks, strict=False)]
            seed(db, args.incidents)
            loads = []
            for _ in range(6):
                page.goto("/console/")
                loads.append(page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd"))
            browser.close()
            out = {"publish_to_visible_p50_ms": pct(visible, 0.5), "publish_to_visible_p99_ms": pct(visible, 0.99),
                   "speak_to_sound_p50_ms": pct(sound, 0.5), "speak_to_sound_p99_ms": pct(sound, 0.99),
                   "queue_load_ms": round(statistics.median(loads[1:]), 1),
                   "alerts": len(visible), "speaks": len(sound), "incidents": args.incidents,
                   "cpu_cores": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)}
        finally:
            for step in (lambda: playwright and playwright.stop(), lambda: pub and pub.close(),
                         lambda: node and node.close()):
                try:
                    step()
                except Exception as exc:  # the figures matter more than a tidy teardown
                    print(f"teardown: {exc}", file=sys.stderr)
            proc.terminate()
            proc.wait(20)
            db.close()
            broker.stop()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
