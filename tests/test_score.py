"""edge-sim score: matching alerts with ground truth, and the rules end to end over scenarios."""

from __future__ import annotations

import json
from datetime import timedelta

from edge.config import load_profile
from simulator.scenario import load_scenario
from simulator.score import score, summarise

from .conftest import PROFILES, run_cli

SC = load_scenario("reservoir_dusk_two_anglers")  # two fishing truths
PROFILE = load_profile(PROFILES / "reservoir.toml")  # fishing: dwell 20 + recheck 30


def events(vid: str, start: float, alert: float | None, end: float | None, kind="fishing", zone="shore"):
    def at(t):
        return None if t is None else (SC.start + timedelta(seconds=t)).isoformat()
    base = {"id": vid, "kind": kind, "zone": zone, "rule": "no_fishing", "started_at": at(start)}
    out = [{**base, "stage": "warning"}]
    if alert is not None:
        out.append({**base, "stage": "alert", "confirmed_at": at(alert)})
    if end is not None:
        out.append({**base, "stage": "cleared", "confirmed_at": at(alert), "ended_at": at(end)})
    return out


def test_score_matches_by_kind_zone_and_time_and_counts_duplicates():
    (a, b) = SC.truth
    evs = (events("v1", a.start_s + 1, a.start_s + 51, a.end_s)  # matches the first angler
           + events("v2", b.start_s, b.start_s + 52, b.end_s)  # the second
           + events("v3", a.start_s + 60, a.start_s + 110, a.end_s)  # a duplicate of the first
           + events("v4", 5, 55, 60, zone="water"))  # wrong zone: false
    row = score(SC, PROFILE, evs)
    assert row["expected"] == 2 and row["matched"] == 2
    assert row["alerts"] == 4 and row["false_alerts"] == 2
    assert sorted(row["latencies_s"]) == [1.0, 2.0]
    total = summarise([row])
    assert total["precision"] == 0.5 and total["recall"] == 1.0 and total["latency_p50_s"] == 1.5


def test_warnings_alone_do_not_count_and_short_truths_are_not_expected():
    row = score(SC, PROFILE, events("v1", 0, None, 30))
    assert row["alerts"] == 0 and row["warnings"] == 1 and row["matched"] == 0
    night = load_scenario("reservoir_night_angler")  # its boat drifts in for 30 s at the end
    boat = [t for t in night.truth if t.kind == "boat_intrusion"][0]
    row = score(night, PROFILE, [])
    assert boat.end_s - boat.start_s < 60 and row["expected"] == len(night.truth) - 1


def test_rules_with_perfect_detections_score_perfectly(tmp_path):
    """Tracker and rules alone (oracle detections) over a violation and two look-alikes."""
    out = tmp_path / "score.json"
    result = run_cli("edge-sim", "score", "--oracle", "--workers", "2", "reservoir_day_angler",
                     "market_day_delivery_cart", "market_day_stall_market_area", "--out", str(out), timeout=600)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary == json.loads(out.read_text())
    assert summary["precision"] == 1.0 and summary["recall"] == 1.0 and summary["expected"] == 1
    assert summary["latency_p50_s"] <= 2.0
    assert {r["scenario"] for r in summary["scenarios"]} == {"reservoir_day_angler", "market_day_delivery_cart",
                                                             "market_day_stall_market_area"}


def test_a_violation_cleared_and_rewarned_while_the_offence_goes_on_is_fragmented():
    """Two warnings and a clear inside one truth interval still match (precision and recall stay),
    but the interval is fragmented; a clean one is not."""
    (a, b) = SC.truth
    first = events("v1", a.start_s + 1, a.start_s + 51, a.start_s + 70)  # cleared mid-offence ...
    first[-1]["ts"] = (SC.start + timedelta(seconds=a.start_s + 80)).isoformat()
    second = events("v2", a.start_s + 90, a.start_s + 140, None)  # ... and warned again
    for m in second:
        m["warned_at"] = (SC.start + timedelta(seconds=a.start_s + 110)).isoformat()
    for m in first:
        m["warned_at"] = (SC.start + timedelta(seconds=a.start_s + 21)).isoformat()
    clean = events("v3", b.start_s, b.start_s + 52, None)
    for m in clean:
        m["warned_at"] = (SC.start + timedelta(seconds=b.start_s + 20)).isoformat()
    sitter, stander = SC.actor("sitter").path[0], SC.actor("stander").path[3]  # where each angler fishes
    for evs, who in ((first, sitter), (second, sitter), (clean, stander)):
        for m in evs:
            m["objects"] = [{"track": 1, "class": "person", "score": 0.9,
                             "box": [who[1] - 0.02, who[2] - 0.1, who[1] + 0.02, who[2]]}]
    row = score(SC, PROFILE, first + second + clean)
    rows = {r["start_s"]: r for r in row["truth"]}
    assert rows[a.start_s]["warnings"] == 2 and rows[a.start_s]["clears"] == 1 and rows[a.start_s]["fragmented"]
    assert rows[b.start_s]["warnings"] == 1 and rows[b.start_s]["clears"] == 0 and not rows[b.start_s]["fragmented"]
    assert row["fragmented"] == 1 and row["matched"] == 2
    total = summarise([row])
    assert total["fragmented"] == 1 and total["recall"] == 1.0
