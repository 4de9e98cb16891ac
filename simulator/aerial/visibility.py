"""When each actor is in the drone camera's view, and the truth intervals that follows from it.

For a moving camera a violation is only observable while the offender is in the frame, so a truth
interval is "in view AND violating": a boat whose ground point is in the truth zone, or an angler in
the zone with the rod out.  `python -m simulator.aerial.visibility SCENARIO` prints, per actor, the
intervals its ground point projects into the frame (true pose) and the truth intervals that implies,
to write and check [[truth]] tables.  Labels need 30 % of an object visible, so near the frame edge
these times can differ from the labels by a fraction of a second.
"""

from __future__ import annotations

import argparse
import json
import sys

import cv2
import numpy as np

from edge.geo import project


def _intervals(times: list[float], flags: list[bool], step: float) -> list[tuple[float, float]]:
    out, start = [], None
    for t, f in zip(times, flags, strict=True):
        if f and start is None:
            start = t
        if not f and start is not None:
            out.append((start, round(t - step, 4)))
            start = None
    if start is not None:
        out.append((start, times[-1]))
    return [(a, b) for a, b in out if b > a]


def in_view(renderer, actor, t: float) -> bool:
    if not actor.alive(t):
        return False
    w, h = renderer.size
    uv = project(renderer.pose_at(t), *actor.ground(t))
    return uv is not None and 0 <= uv[0] <= w and 0 <= uv[1] <= h


def inside(polygon: np.ndarray, point) -> bool:
    return cv2.pointPolygonTest(polygon.astype(np.float32), (float(point[0]), float(point[1])), False) >= 0


def violating(renderer, actor, kind: str, zone: str, t: float) -> bool:
    if not actor.alive(t) or not inside(renderer.polygons[zone], actor.ground(t)):
        return False
    if kind == "fishing":
        return actor.kind == "person" and actor.rod_out(t)
    if kind == "boat_intrusion":
        return actor.kind == "boat"
    return True


def report(renderer) -> dict:
    """In-view intervals of every actor and the implied truth for the scenario's truth kinds/zones."""
    sc = renderer.scenario
    step = 1.0 / renderer.fps
    times = [round(i * step, 4) for i in range(renderer.n_frames)]
    actors = {}
    for a in renderer.actors:
        view = [in_view(renderer, a, t) for t in times]
        row = {"kind": a.kind, "in_view": _intervals(times, view, step)}
        for kind, zone in sorted({(tr.kind, tr.zone) for tr in sc.truth} | {("boat_intrusion", "water"),
                                                                            ("fishing", "shore")}):
            if zone not in renderer.polygons:
                continue
            both = [v and violating(renderer, a, kind, zone, t) for v, t in zip(view, times, strict=True)]
            spans = _intervals(times, both, step)
            if spans:
                row[f"{kind}@{zone}"] = spans
        actors[a.id] = row
    return {"scenario": sc.name, "actors": actors,
            "truth": [{"kind": t.kind, "zone": t.zone, "start_s": t.start_s, "end_s": t.end_s, "actors": t.actors}
                      for t in sc.truth]}


def main(argv: list[str] | None = None) -> int:
    from simulator.render import Renderer
    from simulator.scenario import ScenarioError, load_scenario

    ap = argparse.ArgumentParser(prog="python -m simulator.aerial.visibility", description=__doc__.split("\n")[0])
    ap.add_argument("scenario")
    args = ap.parse_args(argv)
    try:
        sc = load_scenario(args.scenario)
    except ScenarioError as e:
        print("\n".join(e.problems), file=sys.stderr)
        return 2
    if not getattr(sc, "aerial", False):
        print(f"{args.scenario}: not a drone scenario", file=sys.stderr)
        return 2
    rep = report(Renderer(sc))
    print(json.dumps({"scenario": rep["scenario"]}))
    for aid, row in rep["actors"].items():
        print(json.dumps({aid: row}))
    for tr in rep["truth"]:
        print(json.dumps({"truth": tr}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
