"""`edge-sim score`: run a node over scenarios and compare its alerts with the ground truth.

Every frame of a scenario goes through the node's own pipeline (detector, gate, tracker, rules) on
the scenario's clock, as fast as the machine allows.  A node alert matches a truth interval of the
same kind and zone whose time overlaps the violation's; each truth interval matches one alert at
most, so a duplicate alert counts against precision.

A truth interval is *expected* to produce an alert when it lasts at least as long as the profile's
rule for its kind and zone needs: dwell_s (to the warning) plus recheck_s (to the alert).  Shorter
ones only deserve a warning and are not counted.  Latency is the time from that threshold moment
(truth start + dwell_s + recheck_s) to the alert.

With --oracle the simulator's own labels replace the detector: the rules and the tracker are scored
alone, as they would do with a perfect model.

Fragmentation: every violation the node warned about (or alerted on) is attributed to the truth
interval of its kind and zone it overlaps most.  For each truth interval the row counts the warnings
given while it lasted and the clears sent before it ended; a truth interval with more than one
warning, or a clear while the offence went on, is `fragmented` (a dispatcher saw it end and start
again).  The summary's `fragmented` counts them; precision and recall do not change.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


class OracleDetector:
    """A detection stage that reports exactly what the simulator drew."""

    def __init__(self, classes: tuple[str, ...]):
        self.classes = classes
        self.labels: list = []

    def process(self, frame, tracks=()):
        from edge.detect import Detections

        items = [lab for lab in self.labels if lab.cls in self.classes]
        if not items:
            return Detections.empty(self.classes)
        return Detections(np.array([lab.box for lab in items], np.float32), np.full(len(items), 0.9, np.float32),
                          np.array([self.classes.index(lab.cls) for lab in items], np.int32), self.classes)


class OracleModel:
    """A stand-in model for the node's own detection stage (gate included) under --oracle with a
    scenario's [[oracle]] table: on whole-frame looks an actor scores `full`, in the gate's crops
    `crop` (read as `crop_class` where given); below the profile's score threshold it is not found."""

    def __init__(self, classes: tuple[str, ...], scores, threshold: float, input_size=(320, 320)):
        self.classes = classes
        self.scores = {o.actor: o for o in scores}
        self.threshold = threshold
        self.input_size = input_size
        self.labels: list = []
        self.frame_size = (1, 1)

    def detect(self, image, regions=None):
        from edge.detect import Detections

        h, w = image.shape[:2]
        sx, sy = w / self.frame_size[0], h / self.frame_size[1]
        boxes, scores, ids = [], [], []
        for lab in self.labels:
            x1, y1, x2, y2 = lab.box[0] * sx, lab.box[1] * sy, lab.box[2] * sx, lab.box[3] * sy
            o = self.scores.get(lab.actor)
            cls, score = lab.cls, 0.9 if o is None else o.full
            if regions is not None:
                cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
                if not any(r[0] <= cx < r[2] and r[1] <= cy < r[3] for r in regions):
                    continue
                if o is not None:
                    cls, score = o.crop_class or lab.cls, o.crop
            if cls not in self.classes or score < self.threshold:
                continue
            boxes.append((x1, y1, x2, y2))
            scores.append(score)
            ids.append(self.classes.index(cls))
        coverage = None if regions is None else tuple(tuple(int(v) for v in r) for r in regions)
        if not boxes:
            return Detections.empty(self.classes, coverage)
        return Detections(np.array(boxes, np.float32), np.array(scores, np.float32), np.array(ids, np.int32),
                          self.classes, coverage)


def oracle_stage(profile, sc):
    """The --oracle detection stage: the labels as they are, or through the node's gate when the
    scenario says how crops score its actors ([[oracle]])."""
    if not getattr(sc, "oracle", None):
        return OracleDetector(profile.detect.classes)
    from edge.detect import DetectionStage

    model = OracleModel(profile.detect.classes, sc.oracle, profile.detect.score_threshold)
    stage = DetectionStage(model, profile.detect.motion)
    stage.oracle_model = model
    return stage


PROFILE_OF_SITE = {"reservoir_aerial": "drone"}  # the drone profile's geofences are that world's zones


def default_profile(site: str) -> Path:
    return REPO / "firmware_config" / f"{PROFILE_OF_SITE.get(site, site)}.toml"


def _seconds(iso: str | None, start: datetime) -> float | None:
    return None if iso is None else (datetime.fromisoformat(iso) - start).total_seconds()


def run_scenario(path: str, profile_path: str | None, oracle: bool, threads: int | None) -> dict:
    from edge.capture import Frame
    from edge.config import load_profile
    from edge.pipeline import Pipeline, build_detection
    from simulator.render import Renderer
    from simulator.scenario import load_scenario

    started = time.perf_counter()
    sc = load_scenario(path)
    profile = load_profile(profile_path or default_profile(sc.site))
    stage = oracle_stage(profile, sc) if oracle else build_detection(profile, threads=threads)
    if stage is None:
        raise SystemExit(f"{profile_path or default_profile(sc.site)}: detect.model: the profile names no model "
                         "(give one, or score the rules alone with --oracle)")
    renderer = Renderer(sc)
    poses = None
    if getattr(renderer, "aerial", False) and profile.telemetry is not None:
        from edge.telemetry import Pose, PoseTrack  # a drone scenario: the node gets the drone's telemetry

        poses = PoseTrack()
    pipeline = Pipeline(profile, stage, poses)
    start_wall = sc.start.timestamp()
    events = []
    delivered = getattr(renderer, "delivered", lambda i: True)
    for i in range(renderer.n_frames):
        if poses is not None:
            poses.add(Pose.from_sample(renderer.telemetry(i)))
        if not delivered(i):
            continue  # a dropped frame never reaches the node
        rendered = renderer.render(i)
        if oracle:
            model = getattr(stage, "oracle_model", stage)
            model.labels = rendered.labels
            model.frame_size = (rendered.image.shape[1], rendered.image.shape[0])
        t = rendered.t
        result = pipeline.process(Frame(rendered.image, i + 1, mono=t, wall=start_wall + t))
        events += [e.message for e in result.events]
    events += [e.message for e in pipeline.close(start_wall + sc.duration_s, reason="end of scenario")]
    where = renderer.actor_latlon if getattr(renderer, "aerial", False) else None
    return score(sc, profile, events, seconds=time.perf_counter() - started, where=where)


def score(sc, profile, events: list[dict], seconds: float = 0.0, where=None) -> dict:
    """Match a scenario's truth with the lifecycle events a node produced for it.

    `where(actor, t)`: an actor's true [lat, lon] at scene time t (drone scenarios); with it, each
    matched alert's location is compared with where the truth's actors were when it was raised."""
    violations: dict[str, dict] = {}
    for m in events:
        v = violations.setdefault(m["id"], {"id": m["id"], "kind": m["kind"], "zone": m["zone"], "rule": m["rule"],
                                            "stages": []})
        v["stages"].append(m["stage"])
        if m["stage"] == "alert":
            v["location"] = m.get("location")
        if m["stage"] == "cleared":
            v["cleared_ts"] = m.get("ts")
        if m["stage"] == "warning" or (m["stage"] == "alert" and "spot" not in v):
            box = (m.get("objects") or [{}])[0].get("box")
            v["spot"] = None if box is None else ((box[0] + box[2]) / 2, box[3])
            loc = m.get("location")
            v["latlon"] = None if not loc or "uncertainty_m" not in loc else (loc["lat"], loc["lon"])
        for key in ("started_at", "warned_at", "confirmed_at", "ended_at"):
            if m.get(key):
                v[key] = m[key]
    alerts = sorted((v for v in violations.values() if "alert" in v["stages"]),
                    key=lambda v: v["confirmed_at"])
    for v in alerts:
        v["start_s"] = _seconds(v.get("started_at"), sc.start)
        v["alert_s"] = _seconds(v.get("confirmed_at"), sc.start)
        v["end_s"] = _seconds(v.get("ended_at"), sc.start) or sc.duration_s

    # Which truth intervals count, and by when a perfect node would have alerted.
    needs = []
    for truth in sc.truth:
        rules = [r for r in profile.rules if r.enabled and r.kind == truth.kind
                 and (truth.zone in r.zones or r.kind == "camera_tamper")]
        needs.append(min((r.dwell_s + r.recheck_s for r in rules), default=None))
    # Pair truths and alerts globally, closest start first, so one early alert cannot take the
    # interval of another.
    pairs = sorted(
        (abs(v["start_s"] - truth.start_s), ti, v["id"])
        for ti, truth in enumerate(sc.truth) for v in alerts
        if v["kind"] == truth.kind and v["zone"] == truth.zone and v["start_s"] < truth.end_s
        and v["end_s"] > truth.start_s
    )
    by_id = {v["id"]: v for v in alerts}
    assigned: dict[int, str] = {}
    matched_ids: set[str] = set()
    for _, ti, vid in pairs:
        if ti not in assigned and vid not in matched_ids:
            assigned[ti] = vid
            matched_ids.add(vid)
    rows, latencies, locations = [], [], []
    expected = 0
    for ti, truth in enumerate(sc.truth):
        need = needs[ti]
        counted = need is not None and truth.end_s - truth.start_s >= need
        expected += counted
        row = {"kind": truth.kind, "zone": truth.zone, "start_s": truth.start_s, "end_s": truth.end_s,
               "expected": counted, "alert": assigned.get(ti), "latency_s": None}
        if ti in assigned and need is not None:
            row["latency_s"] = round(by_id[assigned[ti]]["alert_s"] - (truth.start_s + need), 2)
            if counted:
                latencies.append(row["latency_s"])
        if ti in assigned and where is not None:
            row.update(_location_error(by_id[assigned[ti]], truth, where))
            if row.get("location_error_m") is not None:
                locations.append((row["location_error_m"], row["uncertainty_m"]))
        rows.append(row)
    _fragments(sc, violations, rows, where)
    false_alerts = [v for v in alerts if v["id"] not in matched_ids]
    matched_expected = sum(1 for r in rows if r["expected"] and r["alert"])
    return {
        "scenario": sc.name, "site": sc.site, "frames": sc.n_frames, "seconds": round(seconds, 1),
        "speed_x": round(sc.duration_s / seconds, 2) if seconds else None,
        "expected": expected, "alerts": len(alerts), "matched": matched_expected,
        "matched_any": len(matched_ids), "false_alerts": len(false_alerts),
        "warnings": sum(1 for v in violations.values() if "warning" in v["stages"]),
        "fragmented": sum(1 for r in rows if r["fragmented"]),
        "latencies_s": latencies, "location_errors": locations, "truth": rows,
        "false": [{"id": v["id"], "kind": v["kind"], "zone": v["zone"], "start_s": v["start_s"],
                   "alert_s": v["alert_s"]} for v in false_alerts],
    }


def _fragments(sc, violations: dict[str, dict], rows: list[dict], where=None) -> None:
    """Per truth row: the warnings given while it lasted, the clears sent before it ended, and
    whether it was fragmented (more than one warning, or any such clear)."""
    spans = {}
    for v in violations.values():
        start = _seconds(v.get("started_at"), sc.start)
        warned = _seconds(v.get("warned_at"), sc.start)
        if start is None or warned is None:
            continue  # never warned nor alerted: nobody was told
        end = _seconds(v.get("ended_at"), sc.start)
        spot = v.get("spot")
        if where is not None:  # a drone: where the violation was located, against where the actors were
            spot = v.get("latlon")
        spans[v["id"]] = (start, sc.duration_s if end is None else end, warned,
                          _seconds(v.get("cleared_ts"), sc.start), spot)
    mine: dict[int, list[tuple]] = {i: [] for i in range(len(rows))}
    for vid, (start, end, warned, cleared, spot) in spans.items():
        v = violations[vid]
        best, best_key = None, None
        for i, truth in enumerate(sc.truth):
            if v["kind"] != truth.kind or v["zone"] != truth.zone:
                continue
            overlap = min(end, truth.end_s) - max(start, truth.start_s)
            if overlap < 0:
                continue
            # Two anglers at once: the truth whose actors stood nearest the violation's subject.
            gap = _gap_to_actors(sc, truth, spot, warned, where)
            key = (-gap, overlap, -abs(start - truth.start_s))
            if best_key is None or key > best_key:
                best, best_key = i, key
        if best is not None:
            mine[best].append((warned, cleared))
    for i, truth in enumerate(sc.truth):
        warnings = sum(1 for w, _ in mine[i] if truth.start_s <= w <= truth.end_s)
        clears = sum(1 for _, c in mine[i] if c is not None and truth.start_s <= c < truth.end_s)
        rows[i].update({"warnings": warnings, "clears": clears, "fragmented": warnings > 1 or clears > 0})


def _gap_to_actors(sc, truth, spot, t: float, where=None) -> float:
    """Relative image distance from a violation's subject (bottom centre of its box) to the nearest
    of the truth's actors at time t (keyframes interpolated); for a drone, metres from its location
    to where the actors were (`where`); 0 where unknown."""
    if spot is None:
        return 0.0
    if where is not None:
        from edge.geo.frames import haversine_m

        spots = [p for p in (where(a, t) for a in truth.actors) if p is not None]
        return min((haversine_m(spot[0], spot[1], lat, lon) for lat, lon in spots), default=0.0)
    if getattr(sc, "aerial", False):
        return 0.0
    gaps = []
    for aid in truth.actors:
        keys = sc.actor(aid).path
        ts = [k[0] for k in keys]
        x = float(np.interp(t, ts, [k[1] for k in keys]))
        y = float(np.interp(t, ts, [k[2] for k in keys]))
        gaps.append(((x - spot[0]) ** 2 + (y - spot[1]) ** 2) ** 0.5)
    return round(min(gaps), 2) if gaps else 0.0


def _location_error(alert: dict, truth, where) -> dict:
    """Metres from the alert's location to the nearest of the truth's actors at the alert."""
    from edge.geo.frames import haversine_m

    loc = alert.get("location")
    if not loc or "uncertainty_m" not in loc:
        return {"location_error_m": None, "uncertainty_m": None}
    spots = [p for p in (where(a, alert["alert_s"]) for a in truth.actors) if p is not None]
    if not spots:
        return {"location_error_m": None, "uncertainty_m": loc["uncertainty_m"]}
    error = min(haversine_m(loc["lat"], loc["lon"], lat, lon) for lat, lon in spots)
    return {"location_error_m": round(error, 2), "uncertainty_m": loc["uncertainty_m"]}


def summarise(rows: list[dict]) -> dict:
    alerts = sum(r["alerts"] for r in rows)
    good = sum(r["matched_any"] for r in rows)
    expected = sum(r["expected"] for r in rows)
    matched = sum(r["matched"] for r in rows)
    latencies = [x for r in rows for x in r["latencies_s"]]
    located = [x for r in rows for x in r.get("location_errors", [])]
    errors = [e for e, _ in located]
    return {
        "precision": round(good / alerts, 4) if alerts else 1.0,
        "recall": round(matched / expected, 4) if expected else 1.0,
        "latency_p50_s": round(statistics.median(latencies), 2) if latencies else None,
        "latency_max_s": round(max(latencies), 2) if latencies else None,
        "alerts": alerts, "expected": expected, "matched": matched,
        "false_alerts": sum(r["false_alerts"] for r in rows),
        # Truth intervals the node cleared and re-warned while they lasted (see _fragments).
        "fragmented": sum(r.get("fragmented", 0) for r in rows),
        # Drone scenarios: metres from each matched alert's location to the true position, and how
        # many of them fall within the alert's own uncertainty_m.
        "location_error_p50_m": round(statistics.median(errors), 2) if errors else None,
        "location_error_max_m": round(max(errors), 2) if errors else None,
        "location_within_uncertainty": (round(sum(e <= u for e, u in located) / len(located), 3)
                                        if located else None),
        "scenarios": rows,
    }


def cmd_score(args: argparse.Namespace) -> int:
    from simulator.scenario import ScenarioError, load_scenario, shipped_scenarios

    paths = [str(p) for p in (args.scenarios or shipped_scenarios())]
    try:
        for p in paths:
            load_scenario(p)
    except ScenarioError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 2
    workers = max(1, min(args.workers, len(paths)))
    threads = 1 if workers > 1 else None
    config = str(args.config) if args.config else None
    print(f"score: {len(paths)} scenario(s), {workers} worker(s){' (oracle detections)' if args.oracle else ''}",
          file=sys.stderr)
    rows = []
    if workers == 1:
        for p in paths:
            rows.append(run_scenario(p, config, args.oracle, threads))
            _progress(rows[-1])
    else:
        # spawned, not forked: forking a process with threads (onnxruntime) can inherit a held lock
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for row in pool.map(run_scenario, paths, [config] * len(paths), [args.oracle] * len(paths),
                                [threads] * len(paths)):
                rows.append(row)
                _progress(row)
    result = summarise(rows)
    text = json.dumps(result)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(text)
    return 0


def _progress(row: dict) -> None:
    print(f"score: {row['scenario']}: {row['matched']}/{row['expected']} expected alerts, "
          f"{row['false_alerts']} false, {row['warnings']} warnings, {row['fragmented']} fragmented "
          f"({row['seconds']} s, {row['speed_x']}x real time)",
          file=sys.stderr, flush=True)


def add_score(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="run a node over scenarios and score its alerts against the ground truth")
    p.add_argument("scenarios", nargs="*", help="scenario files or shipped names (default: every shipped scenario)")
    p.add_argument("--config", type=Path, help="node profile (default: firmware_config/<site>.toml)")
    p.add_argument("--oracle", action="store_true", help="use the simulator's labels instead of the detector")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="scenarios scored in parallel")
    p.add_argument("--out", type=Path, help="also write the result (indented JSON) here")
    p.set_defaults(func=cmd_score)
