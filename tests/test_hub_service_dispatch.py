"""Dispatch: three simulated officers report positions; the hub proposes the nearest by straight-line
distance and ETA, sends the chosen one a signed task, and the officer's device reports accepted, on
scene and done, which move the incident on with audit records and meet the time targets."""

from __future__ import annotations

import json

import pytest

from edge.crypto import generate_keypair, load_public_key
from simulator.officers import Officer, OfficerSim

from .hub_rig import Publisher, hub_any, lifecycle  # noqa: F401


@pytest.fixture
def hub(hub_any):  # noqa: F811
    """Each test here runs on SQLite and on PostgreSQL."""
    return hub_any

# Metres north of the incident (30.0, 120.0): 1 degree of latitude is ~111.2 km.
NEAR, MIDDLE, FAR = 200, 600, 1500


def _north(m: float) -> float:
    return 30.0 + m / 111_195.0


def test_the_nearest_of_three_officers_is_dispatched_and_the_loop_closes(hub, mosquitto, tmp_path):  # noqa: F811
    admin = hub.client("root", "admin")
    disp = hub.client("dan", "dispatcher")
    for oid, badge in (("o-far", "0003"), ("o-near", "0001"), ("o-mid", "0002")):
        r = admin.post("/api/officers", json={"id": oid, "name": f"Officer {badge}", "badge": badge,
                                              "device": f"DSJ-{badge}"})
        assert r.status_code == 200, r.text
    assert disp.post("/api/officers", json={"id": "x", "name": "x"}).status_code == 403  # admin only
    sim = OfficerSim(mosquitto.address, [Officer("o-near", _north(NEAR), 120.0), Officer("o-mid", _north(MIDDLE), 120.0),
                                         Officer("o-far", _north(FAR), 120.0)],
                     load_public_key(hub.folder / "hub.pub"), prefix=hub.prefix, speed_mps=5.0, time_scale=40.0,
                     tick_s=0.1, on_scene_s=2.0).start()
    pub = Publisher(mosquitto, f"{hub.prefix}-node")
    try:
        pub.send(f"{hub.prefix}/n1/alert", lifecycle("v1", "alert"))
        assert hub.wait(lambda: disp.get("/api/incidents").json()["total"] == 1)
        inc = disp.get("/api/incidents").json()["items"][0]["id"]
        assert hub.wait(lambda: len(disp.get(f"/api/incidents/{inc}/proposals").json()["officers"]) == 3)
        proposals = disp.get(f"/api/incidents/{inc}/proposals").json()
        assert [o["officer"] for o in proposals["officers"]] == ["o-near", "o-mid", "o-far"]
        near = proposals["officers"][0]
        assert abs(near["distance_m"] - NEAR) < 5 and abs(near["eta_s"] - NEAR / 5.0) < 2  # 18 km/h = 5 m/s

        r = disp.post(f"/api/incidents/{inc}/dispatch", json={"officer": "o-near", "note": "angler at the shore"})
        assert r.status_code == 200, r.text
        assert disp.post(f"/api/incidents/{inc}/dispatch", json={"officer": "o-near"}).status_code == 409
        assert hub.wait(lambda: disp.get(f"/api/incidents/{inc}").json()["state"] == "resolved", 30)
        assert sim.officers["o-near"].history == ["accepted", "on_scene", "done"]
        assert sim.officers["o-mid"].history == [] and sim.officers["o-far"].history == []

        detail = disp.get(f"/api/incidents/{inc}").json()
        assert [(a["actor"], a["to"]) for a in detail["audit"]] == [
            ("node:n1", "new"), ("user:dan", "dispatched"), ("officer:o-near", "on_scene"),
            ("officer:o-near", "resolved")]
        assert detail["officer"] == "o-near" and detail["tasks"][0]["state"] == "done"
        assert detail["targets"]["dispatch"]["met"] and detail["targets"]["on_scene"]["met"]
        assert detail["targets"]["acknowledge"]["met"]  # dispatching at once acknowledges
        r = disp.post(f"/api/incidents/{inc}/transition", json={"to": "closed", "comment": "verified on video"})
        assert r.status_code == 200
        times = disp.get("/api/stats").json()["times"]
        assert times["on_scene"]["count"] == 1 and times["on_scene"]["within_target"] == 1
    finally:
        sim.stop()
        pub.close()


def test_a_task_not_signed_by_the_hub_is_refused_by_the_device(hub, mosquitto, tmp_path):  # noqa: F811
    from edge.hub.service.officers import make_task

    sim = OfficerSim(mosquitto.address, [Officer("o1", 30.0, 120.0)], load_public_key(hub.folder / "hub.pub"),
                     prefix=hub.prefix).start()
    pub = Publisher(mosquitto, f"{hub.prefix}-forger")
    try:
        forged = make_task(generate_keypair(tmp_path / "x.key", tmp_path / "x.pub"), "o1",
                           {"id": 1, "node": "n1", "rule": "r", "kind": "fishing", "zone": "z", "lat": 30.0,
                            "lon": 120.0})
        pub.send(f"{hub.prefix}/officer/o1/task", json.dumps(forged).encode())
        assert hub.wait(lambda: sim.refused == 1, 10)
        assert sim.officers["o1"].history == []
    finally:
        sim.stop()
        pub.close()
