"""Fleet chaos benchmark: a longer `edge-sim fleet` run; prints its JSON object.

Six nodes (reservoir and market profiles; node2 on an RTSP camera, node3's evidence on a small tmpfs)
run for five and a half minutes against one local hub while every kind of fault comes round three
times (`--faults all`: broker restarts, partitions, stalls, power cuts, a full disk, camera loss), then
drain.  The JSON is the fleet's report (docs/fleet.md): alerts_produced == alerts_received,
bundles_verified_at_hub == bundles_produced, duplicates, max_outbox_depth, max_recovery_s, per fault
and per node; plus cpu_s, the CPU time the whole run (nodes, hub, broker, camera) took.

Usage: python bench/fleet.py [--nodes 6] [--duration 330] [--faults all] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=6)
    parser.add_argument("--duration", type=float, default=330.0)
    parser.add_argument("--faults", default="all")
    parser.add_argument("--drain", type=float, default=120.0)
    parser.add_argument("--out", type=Path, help="run folder (default: a temporary folder, removed)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        out = args.out or Path(tmp) / "fleet"
        started = time.monotonic()
        result = subprocess.run([str(BIN / "edge-sim"), "fleet", "--nodes", str(args.nodes), "--duration",
                                 str(args.duration), "--faults", args.faults, "--drain", str(args.drain), "--out",
                                 str(out)], stdout=subprocess.PIPE, text=True, cwd=REPO)
        wall = time.monotonic() - started
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            report = json.loads(result.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            print(json.dumps({"ok": False, "error": f"edge-sim fleet exited {result.returncode} without a report"}))
            return 1
    report["wall_s"] = round(wall, 1)
    report["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 1)
    report["cpu_cores_busy"] = round(report["cpu_s"] / wall, 2) if wall else None
    print(json.dumps(report))
    return 0 if report.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
