"""Render-speed benchmark: `python bench/render.py [SCENARIO...] [--frames N]` prints one JSON object.

Measures the steady-state cost of Renderer.render() (caches warm: background, noise bank) on one core,
over N frames spread evenly across each scenario.  Target: <= 30 ms per 1280x720 frame on average.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

from simulator.render import Renderer
from simulator.scenario import load_scenario, shipped_scenarios


def bench(path, frames: int) -> dict:
    sc = load_scenario(path)
    t0 = time.perf_counter()
    r = Renderer(sc)
    r.render(0)
    setup = time.perf_counter() - t0
    idx = sorted({int(i * (r.n_frames - 1) / max(frames - 1, 1)) for i in range(frames)})
    times = []
    for i in idx:
        s = time.perf_counter()
        r.render(i)
        times.append(time.perf_counter() - s)
    times.sort()
    return {"scenario": sc.name, "size": list(sc.size), "frames": len(idx), "setup_s": round(setup, 3),
            "mean_ms": round(1000 * sum(times) / len(times), 2), "p95_ms": round(1000 * times[int(0.95 * (len(times) - 1))], 2),
            "max_ms": round(1000 * times[-1], 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench/render.py")
    ap.add_argument("scenarios", nargs="*", help="default: all shipped scenarios")
    ap.add_argument("--frames", type=int, default=120, help="frames per scenario (default 120)")
    args = ap.parse_args(argv)
    try:
        import cv2

        cv2.setNumThreads(1)  # the target is per core
    except Exception:  # pragma: no cover
        pass
    results = [bench(p, args.frames) for p in (args.scenarios or shipped_scenarios())]
    total = sum(r["mean_ms"] * r["frames"] for r in results) / sum(r["frames"] for r in results)
    print(json.dumps({"bench": "simulator.render", "machine": platform.processor() or platform.machine(),
                      "target_ms": 30.0, "mean_ms": round(total, 2), "ok": total <= 30.0, "scenarios": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
