"""The statistics page: incidents per day / node / rule, the false-alarm rate per node and rule, and
the time to acknowledge / dispatch / be on scene against the targets, as server-rendered SVG."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from ..service.api.deps import User
from ..service.api.stats import stats as compute
from . import charts, i18n
from .web import hub_of, lang_of, render, signed_in

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/stats", response_class=HTMLResponse)
def page(request: Request, days: int = 30, u: User = Depends(signed_in)) -> HTMLResponse:
    import time

    days = max(1, min(days, 366))
    s = compute(since=time.time() - days * 86400, until=None, h=hub_of(request), u=u)
    per_day, per_node, per_rule = Counter(), Counter(), Counter()
    for r in s["per_day"]:
        per_day[r["day"]] += r["incidents"]
        per_node[r["node"]] += r["incidents"]
        per_rule[r["rule"]] += r["incidents"]
    false_node, false_rule = Counter(), Counter()
    for r in s["false_alarms"]:
        false_node[r["node"]] += r["false_alarms"]
        false_rule[r["rule"]] += r["false_alarms"]
    times = s["times"]
    w = i18n.words(lang_of(request))
    label = {"acknowledge": w["to_ack"], "dispatch": w["to_dispatch"], "on_scene": w["to_scene"]}
    svg = {
        "per_day": charts.bars(sorted(per_day.items()), label="per day"),
        "per_node": charts.bars(per_node.most_common(20), label="per node"),
        "per_rule": charts.bars(per_rule.most_common(20), label="per rule", colour="#805ad5"),
        "false_node": charts.bars([(n, false_node[n] / c) for n, c in per_node.most_common(20)], unit="%",
                                  maximum=1, colour="#dd6b20", label="false alarms per node"),
        "false_rule": charts.bars([(r, false_rule[r] / c) for r, c in per_rule.most_common(20)], unit="%",
                                  maximum=1, colour="#dd6b20", label="false alarms per rule"),
        "times": charts.against_target([(label[k], times[k]["p50_s"], times[k]["p90_s"], times[k]["target_s"])
                                        for k in ("acknowledge", "dispatch", "on_scene")]),
    }
    return render(request, "stats.html", u, s=s, svg={k: Markup(v) for k, v in svg.items()}, days=days)
