"""Statistics: incident counts per node/rule/day, false-alarm rate per node/rule, and the time to
acknowledge / dispatch / be on scene as percentiles against the targets."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import datetime

from fastapi import APIRouter, Depends

from .deps import Hub, User, hub, viewer

router = APIRouter(prefix="/api/stats", tags=["statistics"])

#: A dismissal for this reason means the detection itself was wrong.
FALSE_ALARM = "wrong_object"


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return round(values[lo] + (values[hi] - values[lo]) * (k - lo), 3)


@router.get("")
def stats(since: float | None = None, until: float | None = None, h: Hub = Depends(hub),
          u: User = Depends(viewer)) -> dict:
    since = time.time() - 30 * 86400 if since is None else since
    until = time.time() + 1 if until is None else until
    rows = h.db.query("SELECT node, rule, opened_at, state, dismiss_reason, acknowledged_at, dispatched_at, "
                      "on_scene_at FROM incidents WHERE opened_at >= ? AND opened_at < ?", (since, until))
    per_day: dict[tuple, int] = defaultdict(int)
    per_rule: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    times: dict[str, list[float]] = defaultdict(list)
    within: dict[str, int] = defaultdict(int)
    for node, rule, opened, state, reason, ack, disp, scene in rows:
        per_day[(node, rule, datetime.fromtimestamp(opened).date().isoformat())] += 1
        per_rule[(node, rule)][0] += 1
        per_rule[(node, rule)][1] += int(state == "dismissed" and reason == FALSE_ALARM)
        targets = h.config.incidents.targets_for(rule)
        for name, at, limit in (("acknowledge", ack or disp, targets.acknowledge_s),
                                ("dispatch", disp, targets.dispatch_s), ("on_scene", scene, targets.on_scene_s)):
            if at is not None:
                times[name].append(at - opened)
                within[name] += int(at - opened <= limit)
    t = h.config.incidents.targets
    return {
        "since": since, "until": until, "incidents": len(rows),
        "per_day": [{"node": n, "rule": r, "day": d, "incidents": c} for (n, r, d), c in sorted(per_day.items())],
        "false_alarms": [{"node": n, "rule": r, "incidents": c, "false_alarms": f, "rate": round(f / c, 4)}
                         for (n, r), (c, f) in sorted(per_rule.items())],
        "times": {name: {"count": len(times[name]), "p50_s": percentile(times[name], 0.5),
                         "p90_s": percentile(times[name], 0.9), "p99_s": percentile(times[name], 0.99),
                         "target_s": limit, "within_target": within[name]}
                  for name, limit in (("acknowledge", t.acknowledge_s), ("dispatch", t.dispatch_s),
                                      ("on_scene", t.on_scene_s))},
    }
