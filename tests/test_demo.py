"""edge-sim demo (what `make demo` runs): bounded, ends with a summary, exit 0."""

from __future__ import annotations

import json

import av

from .conftest import run_cli


def test_demo_runs_two_nodes_and_exits_0(tmp_path):
    out = tmp_path / "demo"
    result = run_cli("edge-sim", "demo", "--out", str(out), "--duration", "15", "--preview-s", "2", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ok"] and summary["profiles_ok"]
    assert {n["node"] for n in summary["nodes"]} == {"reservoir-01", "market-01"}
    assert all(n["frames"] > 0 and n["exit"] == 0 and n["ping"] and n["delivered"] for n in summary["nodes"])
    for preview in summary["previews"]:
        with av.open(preview) as container:
            assert sum(1 for _ in container.decode(video=0)) == 10
    assert "result: ok" in result.stdout
