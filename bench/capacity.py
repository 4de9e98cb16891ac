"""Capacity figures for docs/operations.md: prints one JSON object.

- runs `edge-node run` on a scenario (evidence on, link off, frames in lock-step) in a temporary state
  folder and measures what it leaves: evidence bundles (bytes per file kind), lifecycle messages per
  violation and their JSON size (what goes to the broker);
- feeds the same scenario's frames, at the scenario's frame rate, through the node's H.264 encoder
  into a pre-roll buffer of the profile's `buffer_s` and reports the buffer's bytes once full.

Synthetic scenes compress better than a real camera's picture: treat the video figures as a floor and
see docs/operations.md for the worked example with a real camera's bitrate.

Usage: python bench/capacity.py [--scenario reservoir_day_angler] [--profile reservoir]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edge.capture import Frame  # noqa: E402
from edge.config import load_profile  # noqa: E402
from edge.crypto import generate_keypair  # noqa: E402
from edge.evidence import PrerollBuffer, SoftwareEncoder  # noqa: E402
from simulator.render import Renderer  # noqa: E402
from simulator.scenario import load_scenario  # noqa: E402


def run_node(profile: Path, scenario: Path, state: Path) -> dict:
    generate_keypair(state / "keys" / "node.key", state / "keys" / "node.pub")
    t0 = time.monotonic()
    result = subprocess.run([str(Path(sys.executable).parent / "edge-node"), "run", "--config", str(profile),
                             "--no-link", "--state-dir", str(state), "--source", f"sim:{scenario}?realtime=0"],
                            capture_output=True, text=True, cwd=REPO, timeout=1800)
    if result.returncode != 0:
        raise SystemExit(f"edge-node run failed:\n{result.stderr[-2000:]}")
    bundles = []
    for manifest in sorted((state / "evidence").glob("*/manifest.json")):
        folder = manifest.parent
        files = {p.name: p.stat().st_size for p in folder.iterdir() if p.is_file()}
        facts = json.loads(manifest.read_text())
        clip = next((f for f in facts["files"] if f["kind"] == "clip"), None)
        segment = load_profile(profile).upload.segment_bytes
        bundles.append({"bundle": folder.name, "bytes": sum(files.values()), "files": files,
                        "clip_s": clip.get("duration_s") if clip else None,
                        # EMQX file transfer: init, one message per segment, fin; for every file
                        "upload_messages": sum(2 + -(-size // segment) for size in files.values())})
    stages: Counter[str] = Counter()
    sizes: dict[str, list[int]] = defaultdict(list)
    violations = set()
    for line in (state / "lifecycle.jsonl").read_text().splitlines():
        message = json.loads(line)
        stages[message["stage"]] += 1
        sizes[message["stage"]].append(len(json.dumps(message, separators=(",", ":")).encode()))
        violations.add(message["id"])
    return {"run_s": round(time.monotonic() - t0, 1), "bundles": bundles,
            "violations": len(violations), "messages_by_stage": dict(stages),
            "message_bytes_by_stage": {k: round(sum(v) / len(v)) for k, v in sizes.items()}}


def preroll(profile_path: Path, scenario_path: Path) -> dict:
    profile = load_profile(profile_path)
    cfg = profile.evidence
    scenario = load_scenario(scenario_path)
    renderer = Renderer(scenario)
    buffer = PrerollBuffer(cfg.buffer_s, cfg.buffer_max_bytes)
    encoder = SoftwareEncoder(buffer, crf=cfg.crf, gop_s=cfg.gop_s, max_fps=cfg.encode_fps, blocking=True).start()
    frames = min(renderer.n_frames, int(cfg.buffer_s * scenario.fps))
    for i in range(frames):
        t = i / scenario.fps
        encoder.submit(Frame(renderer.render(i).image, seq=i + 1, mono=t, wall=scenario.start.timestamp() + t))
    encoder.stop()
    return {"buffer_s": cfg.buffer_s, "span_s": round(buffer.span_s, 1), "bytes": buffer.bytes,
            "max_bytes": cfg.buffer_max_bytes, "fps": scenario.fps, "size": list(scenario.size), "crf": cfg.crf,
            "kbit_per_s": round(buffer.bytes * 8 / 1000 / max(buffer.span_s, 1e-6), 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench/capacity.py")
    ap.add_argument("--scenario", default="reservoir_day_angler")
    ap.add_argument("--profile", default="reservoir")
    args = ap.parse_args(argv)
    profile = REPO / "firmware_config" / f"{args.profile}.toml"
    scenario = REPO / "simulator" / "scenarios" / f"{args.scenario}.toml"
    with tempfile.TemporaryDirectory(prefix="edge-capacity-") as tmp:
        node = run_node(profile, scenario, Path(tmp))
    print(json.dumps({"bench": "capacity", "profile": args.profile, "scenario": args.scenario, "node": node,
                      "preroll": preroll(profile, scenario)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
