"""edge-sim demo (what `make demo` runs): the product tour, bounded, with a summary and exit 0.

The whole tour runs once (real mosquitto, real node and hub processes); the tests check what a user
relies on: every step worked, warnings were spoken (valid WAV files), alerts reached the hub, and every
evidence bundle the nodes sealed was verified at the hub.
"""

from __future__ import annotations

import json
import wave
from pathlib import Path

import av
import pytest

from .conftest import run_cli

NODES = {"reservoir-01", "market-01"}


@pytest.fixture(scope="module")
def tour(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo-out"
    result = run_cli("edge-sim", "demo", "--out", str(out), "--preview-s", "2", timeout=290)
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
    return out, result, summary


def test_the_tour_exits_0_with_a_readable_summary(tour):
    out, result, summary = tour
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert summary["ok"] and summary["profiles_ok"] and summary["failures"] == []
    assert {n["node"] for n in summary["nodes"]} == NODES
    assert all(n["ok"] and n["frames"] > 0 and n["exit"] == 0 and n["ping"] for n in summary["nodes"])
    assert "result: ok" in result.stdout and "FAILED" not in result.stdout
    assert "\x1b[" not in result.stdout  # not a terminal: plain lines, no escape codes
    for preview in summary["previews"]:
        with av.open(preview) as container:
            assert sum(1 for _ in container.decode(video=0)) == 10


def test_warnings_and_alerts_are_raised_and_delivered_to_the_hub(tour):
    _, _, summary = tour
    nodes = summary["nodes"]
    assert sum(n["warnings"] for n in nodes) > 0 and sum(n["alerts"] for n in nodes) > 0
    assert all(n["delivered"] and n["hub_messages"] == n["messages"] > 0 for n in nodes)
    assert summary["hub_messages"] == sum(n["messages"] for n in nodes)
    assert Path(summary["hub"]["alerts_db"]).is_file()


def test_warnings_are_spoken_into_valid_wav_files(tour):
    out, _, summary = tour
    wavs = [Path(p) for n in summary["nodes"] for p in n["spoken_wavs"]]
    assert wavs and all(p.is_relative_to(out / "speaker") for p in wavs)
    for path in wavs:
        with wave.open(str(path), "rb") as w:
            assert w.getsampwidth() == 2 and w.getframerate() > 0 and w.getnframes() > 0
    assert any("-auto-" in p.stem for p in wavs)  # automatic warnings (the file sink's labels)
    speak = summary["hub"]["commands"]["speak"]  # the hub's `edge-hub speak`, heard on the node
    assert speak["result"]["ok"] and speak["wavs"] and Path(speak["wavs"][0]).parent == out / "speaker" / speak["node"]


def test_every_sealed_bundle_is_verified_at_the_hub(tour):
    _, _, summary = tour
    nodes = summary["nodes"]
    assert sum(n["bundles_sealed"] for n in nodes) > 0
    for n in nodes:
        assert n["bundles_verified_at_hub"] == n["bundles_sealed"] == n["bundles_acked"]
        assert n["evidence_verify_ok"], n["evidence_verify"]
        at_hub = Path(summary["hub"]["evidence_dir"]) / n["node"]
        bundles = [b for b in at_hub.iterdir() if (b / "manifest.json").is_file()] if at_hub.exists() else []
        assert len(bundles) == n["bundles_sealed"]
    assert summary["hub"]["bundles_verified"] == sum(n["bundles_sealed"] for n in nodes)


def test_the_hub_service_groups_incidents_and_dispatches_the_nearest_officer(tour):
    _, result, summary = tour
    incidents, dispatch = summary["incidents"], summary["dispatch"]
    assert incidents["total"] >= 1 and incidents["alerts"] >= 1
    assert dispatch["ok"] and dispatch["state"] == "resolved" and dispatch["officer"].startswith("zf-")
    assert [a.split(" (")[0] for a in dispatch["audit"][1:]] == ["new -> dispatched", "dispatched -> on_scene",
                                                                  "on_scene -> resolved"]
    assert "dispatched officer:" in result.stdout and "incidents at the hub:" in result.stdout
    snapshot = summary["hub"]["commands"]["snapshot"]
    assert snapshot["ok"] and Path(snapshot["picture_file"]).read_bytes()[:2] == b"\xff\xd8"  # a JPEG came back

