"""The map (offline base from the site outlines, a local tile folder, officers moving live), the
nodes page with the zone editor (drag a vertex, add a zone, the node applies the validated profile,
the audit row), and the statistics page's charts, in a real browser."""

from __future__ import annotations

from .console_rig import console  # noqa: F401


def test_the_map_is_offline_and_the_dispatched_officer_moves(console):  # noqa: F811
    console.officer("mover", 30.004, 120.004)
    incident = console.incident_of(console.alert(zone="map"))
    page = console.page("dan")
    outside = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(console.base) else None)
    page.goto("/console/map")
    page.wait_for_function("window.edgeMapState && window.edgeMapState.loads >= 1")
    assert page.locator("#map path.leaflet-interactive").count() >= 2  # the site outline and the node
    assert page.evaluate("edgeMapState.nodes.n1.state") == "online"
    assert str(incident) in page.evaluate("Object.keys(edgeMapState.incidents)")
    page.wait_for_selector("#map img.leaflet-tile-loaded")  # the hub's own tile folder
    assert page.evaluate("edgeMapState.officers.mover") == [30.004, 120.004]
    r = page.request.post(f"/api/incidents/{incident}/dispatch", data={"officer": "mover"},
                          headers={"X-CSRF-Token": next(c["value"] for c in page.context.cookies()
                                                        if c["name"] == "edge_csrf")})
    assert r.status == 200, r.text()
    console.position("mover", 30.002, 120.002)  # the officer's device reports on the way
    page.wait_for_function("edgeMapState.officers.mover[0] === 30.002", timeout=5000)
    assert outside == [], outside  # nothing from the internet
    page.context.close()


def test_nodes_health_and_the_zone_editor(console):  # noqa: F811
    console.stats()
    page = console.page("admin")
    page.goto("/console/nodes")
    row = page.inner_text("#nodes tr[data-node='n1']")
    for shown in ("9.5", "41.0", "12.5 GB", "51.0 °C", "yolo11n-fishing"):
        assert shown in row, (shown, row)
    page.click("#nodes tr[data-node='n1'] a")
    page.wait_for_selector("#shapes circle.vertex")
    # Snapshot now: the camera's picture comes under the zones.
    with page.expect_navigation(timeout=10000):  # reloaded once the node's picture arrived
        page.click("#snap")
    page.wait_for_selector("img#picture")
    assert page.evaluate("document.getElementById('picture').naturalWidth") == 640
    # Drag the shore zone's first vertex (0.1, 0.5) to about (0.25, 0.3).
    box = page.locator("#shapes").bounding_box()
    handle = page.locator("#shapes circle[data-zone='shore'][data-point='0']")
    hb = handle.bounding_box()
    page.mouse.move(hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 0.25 * box["width"], box["y"] + 0.3 * box["height"], steps=5)
    page.mouse.up()
    page.fill("#new-name", "jetty")
    page.click("#add-zone")
    applied = len(console.applied)
    page.click("#save-zones")
    page.wait_for_selector("#zone-result[data-state='applied']", timeout=10000)
    zones = {z["name"]: z["polygon"] for z in console.applied[applied]}
    assert set(zones) == {"shore", "jetty"}
    x, y = zones["shore"][0]
    assert abs(x - 0.25) < 0.02 and abs(y - 0.3) < 0.02, zones["shore"]
    assert "jetty" in (console.hub.folder / "profiles" / "n1.toml").read_text()  # the hub's copy follows
    page.reload()
    assert "zones of n1: shore (4 points), jetty (4 points)" in page.inner_text("#zone-audit")
    # Removing the zone a rule watches is refused as the node would refuse it; nothing is sent.
    page.select_option("#which", "shore")
    page.click("#remove-zone")
    page.click("#save-zones")
    page.wait_for_selector("#zone-result[data-state='refused']")
    assert "unknown zone 'shore'" in page.inner_text("#zone-result")
    assert len(console.applied) == applied + 1
    page.context.close()


def test_statistics_charts(console):  # noqa: F811
    vid = console.alert(zone="stats", rule="no_swimming")
    incident = console.incident_of(vid)
    with console.hub.db.tx() as t:
        from edge.hub.service import incidents

        incidents.transition(t, incident, "dismissed", "user:dan", reason="wrong_object")
    page = console.page("vera")
    page.goto("/console/stats")
    assert page.locator("#chart-day rect.bar").count() >= 1
    bars = page.eval_on_selector_all("#chart-false-rule rect.bar title", "els => els.map(e => e.textContent)")
    assert any(t.startswith("no_swimming: ") and not t.endswith(" 0%") for t in bars), bars
    assert page.locator("#chart-times line.target").count() == 3  # each time against its target
    page.context.close()


def test_an_admin_adds_a_user_and_an_officer_and_a_dispatcher_may_not(console):  # noqa: F811
    from edge.hub.service import auth

    page = console.page("admin")
    page.click("header nav a[href='/console/admin']")
    page.fill("#add-user input[name=name]", "newbie")
    page.fill("#add-user input[name=password]", "a long password 9")
    page.select_option("#add-user select[name=role]", "viewer")
    with page.expect_navigation():
        page.click("#add-user button")
    assert "viewer" in page.inner_text("#users tr[data-user='newbie']")
    assert auth.authenticate(console.hub.db, "newbie", "a long password 9") == "viewer"  # hashed, usable
    page.fill("#add-officer input[name=id]", "zf-0999")
    page.fill("#add-officer input[name=name]", "<b>Zhang</b>")
    with page.expect_navigation():
        page.click("#add-officer button")
    assert page.inner_text("#officers tr[data-officer='zf-0999']").startswith("zf-0999\t<b>Zhang</b>")  # as text
    page.context.close()
    dan = console.page("dan")
    assert dan.locator("header nav a[href='/console/admin']").count() == 0
    csrf = next(c["value"] for c in dan.context.cookies() if c["name"] == "edge_csrf")
    r = dan.request.post("/api/users", data={"name": "sneaky", "password": "12345678x", "role": "admin"},
                         headers={"X-CSRF-Token": csrf})
    assert r.status == 403
    dan.goto("/console/admin")
    assert "/console/login" in dan.url  # not an admin page for a dispatcher
    dan.context.close()
