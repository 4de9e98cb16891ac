"""The field uplink on a shaped link (two network namespaces, simulator/netrig.py): alerts go ahead of
evidence.  A short run of bench/uplink.py; it asserts order and volume, not timing: every lifecycle
message made during an upload reaches the hub before the next window of segments, and the evidence
in flight ahead of it is what the link carries in about a round trip, not a fixed window of segments."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from simulator.netrig import unavailable

from .conftest import REPO, require_tool

MBIT, DELAY_MS = 2.0, 50.0


@pytest.fixture(scope="module")
def run():
    reason = unavailable()
    if reason:
        pytest.skip(reason)
    require_tool("mosquitto")
    out = subprocess.run([sys.executable, str(REPO / "bench" / "uplink.py"), "--mbit", str(MBIT), "--delay-ms",
                          str(DELAY_MS), "--duration", "20", "--warmup", "3", "--alert-every", "1", "--tail", "3",
                          "--order", "--raw-s", "0"], cwd=REPO, capture_output=True, text=True, timeout=150)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_every_alert_made_during_an_upload_arrives_before_the_next_window(run):
    assert run["alerts"] >= 15 and run["alerts_arrived"] == run["alerts"], run
    order = run["ordering"]
    assert all(o["before_next_window"] for o in order), order
    # paho and the broker keep one client's messages in order: no evidence sent after an alert was
    # made overtakes it by more than a window
    assert all(o["later_evidence_ahead"] <= o["window_bytes"] for o in order), order


def test_the_evidence_ahead_of_an_alert_is_sized_from_the_link(run):
    rate = MBIT * 1e6 / 8
    # a round trip (2 x the one-way delay), the default queue of 0.25 s, a segment of 0.1 s on the
    # wire, all doubled for the estimate's error; a fixed 16 x 256 KiB window would be 4 MiB here
    bound = 2 * rate * (2 * DELAY_MS / 1000 + 0.25 + 0.1)
    assert max(o["inflight_bytes"] for o in run["ordering"]) <= bound, run["ordering"]
    assert max(o["window_bytes"] for o in run["ordering"]) <= bound
    # measured, not configured: the estimate is the link's rate within a factor of two
    assert MBIT / 2 <= run["link_estimate_mbit"] <= MBIT * 2, run
    assert run["goodput_of_link"] > 0 and run["upload_bytes_queued"] > 0  # evidence flowed all along
