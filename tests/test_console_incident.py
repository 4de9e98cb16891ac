"""The incident page in a real browser: snapshots, the clip played with HTTP Range, the verification
badge (verified, then tampered once a byte of the hub's copy flips), speak -> "played", snapshot
now, dispatch of the nearest officer, transitions with a comment, the case export, and a viewer
who has no dispatch button and whom the API refuses."""

from __future__ import annotations

import io
import subprocess
import zipfile

from .console_rig import console  # noqa: F401


def _open(console, name: str, zone: str):  # noqa: F811
    digest = console.bundle_with_clip(name)
    incident = console.incident_of(console.alert(zone=zone, evidence=digest))
    page = console.page("dan")
    page.goto(f"/console/incidents/{incident}")
    return page, incident


def test_clip_plays_with_range_and_the_badge_turns_tampered(console):  # noqa: F811
    page, incident = _open(console, "b-play", "play")
    ranges = []
    page.on("response", lambda r: ranges.append(r.status) if r.url.endswith("/clip.mp4") else None)
    page.wait_for_selector("#badge .badge[data-verdict='verified']")
    assert page.inner_text("#badge .badge") == "已验证"
    for cls in ("annotated", "clean"):  # both pictures decoded
        assert page.evaluate(f"document.querySelector('.pics img.{cls}').naturalWidth") == 320
    page.evaluate("document.getElementById('clip').muted = true; document.getElementById('clip').play()")
    page.wait_for_function("document.getElementById('clip').currentTime > 0.5")
    assert page.evaluate("document.getElementById('clip').duration") > 1.5
    page.reload()  # a fresh load seeks with a Range request
    page.evaluate("document.getElementById('clip').currentTime = 1.2")
    page.wait_for_function("document.getElementById('clip').readyState >= 2")
    assert 206 in ranges, ranges
    # One byte of the hub's copy of the clean snapshot flips: the next check says tampered, and why.
    path = console.hub.folder / "evidence" / "bundles" / "n1" / "b-play" / "snapshot_best.jpg"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    page.reload()
    page.wait_for_selector("#badge .badge[data-verdict='tampered']")
    page.click("#badge summary")
    bad = page.inner_text("#badge tr.bad")
    assert "snapshot_best.jpg" in bad and "snapshot_best_annotated" not in bad
    page.context.close()


def test_speak_snapshot_dispatch_and_transitions(console):  # noqa: F811
    console.officer("near", 30.002, 120.001)
    console.officer("far", 30.05, 120.05)
    page, incident = _open(console, "b-act", "act")
    page.wait_for_selector("#proposals tr[data-officer='near']")
    rows = page.locator("#proposals tr[data-officer]")
    assert rows.first.get_attribute("data-officer") == "near"  # nearest first, with distance and ETA
    assert "km" in rows.first.inner_text() and "min" in rows.first.inner_text()
    # Speak a clip: the node plays it and the page says so when its result arrives.
    page.select_option("#clip-name", "no_fishing")
    page.click("#speak-clip")
    page.wait_for_selector("#commands li[data-name='speak'][data-state='done']", timeout=10000)
    assert page.inner_text("#commands li[data-name='speak'] .cmd-state") == "已播放"
    assert ("speak", {"clip": "no_fishing"}) in console.node.ran
    page.click("#snapshot")
    page.wait_for_selector("#commands li[data-name='snapshot'][data-state='done']", timeout=10000)
    # Dispatch the nearest officer with one click.
    page.click("#proposals button.dispatch[data-officer='near']")
    page.wait_for_selector("#info[data-state='dispatched']")
    assert console.hub.db.query("SELECT officer, state FROM tasks WHERE incident = ?", (incident,)) == [
        ("near", "sent")]
    # A transition with a comment lands on the audit trail and in the timeline.
    page.fill("#t-comment", "angler left when the officer arrived")
    page.click("button.to[data-to='resolved']")
    page.wait_for_selector("#info[data-state='resolved']")
    assert "angler left" in page.inner_text("#timeline")
    # The case export: sha256sum and one openssl signature check pass on what was downloaded.
    r = page.request.get(f"/console/incidents/{incident}/export.zip")
    assert r.status == 200 and r.headers["content-type"] == "application/zip"
    folder = console.folder / "case"
    zipfile.ZipFile(io.BytesIO(r.body())).extractall(folder)
    bundle = folder / "bundles" / "b-act"
    sums = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=bundle, capture_output=True, text=True)
    assert sums.returncode == 0 and sums.stdout.count(": OK") == 3, sums.stdout + sums.stderr
    sig = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(folder / "keys" / "n1.pub"),
                          "-rawin", "-in", "manifest.json", "-sigfile", "manifest.sig"], cwd=bundle,
                         capture_output=True, text=True)
    assert sig.returncode == 0 and "Verified Successfully" in sig.stdout, sig.stdout + sig.stderr
    assert "angler left" in (folder / "summary.html").read_text()
    page.context.close()


def test_a_viewer_has_no_dispatch_button_and_the_api_refuses_it(console):  # noqa: F811
    console.officer("spare", 30.001, 120.0)
    incident = console.incident_of(console.alert(zone="viewer"))
    page = console.page("vera")
    page.goto(f"/console/incidents/{incident}")
    page.wait_for_selector("#info")
    assert page.locator("button.dispatch").count() == 0 and page.locator("#actions").count() == 0
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "edge_csrf")
    r = page.request.post(f"/api/incidents/{incident}/dispatch", data={"officer": "spare"},
                          headers={"X-CSRF-Token": csrf})
    assert r.status == 403 and "dispatcher" in r.json()["detail"]
    assert console.hub.db.query("SELECT state FROM incidents WHERE id = ?", (incident,))[0][0] == "new"
    page.context.close()
