"""The node package stands alone: nothing in edge/ imports the simulator, and a node runs with the
simulator and rich absent (a camera box installs neither); the simulator's sim: source is a plugin."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap

from .conftest import REPO, level_video

PROFILE = """
[node]
id = "bare-node"
kind = "camera"

[capture]
source = "usb:0"

[link]
enabled = false
"""

# Run the node CLI in a fresh interpreter where `import simulator` and `import rich` fail, as on a
# box where they are not installed.
BLOCKED = textwrap.dedent("""
    import sys
    from importlib.abc import MetaPathFinder

    class Absent(MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("simulator", "rich"):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, Absent())
    from edge.cli.node import main
    sys.exit(main(sys.argv[1:]))
""")


def test_nothing_in_the_node_package_imports_the_simulator_or_rich():
    offenders = []
    for path in (REPO / "edge").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            offenders += [f"{path.relative_to(REPO)}: {n}" for n in names if n.split(".")[0] in ("simulator", "rich")]
    assert offenders == []


def test_a_node_runs_a_file_source_without_the_simulator_and_rich(tmp_path):
    profile = tmp_path / "bare.toml"
    profile.write_text(PROFILE)
    clip = level_video(tmp_path / "clip.mp4", n=12)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "EDGE_STATE_DIR": str(tmp_path / "state")}
    run = subprocess.run([sys.executable, "-c", BLOCKED, "run", "--config", str(profile), "--source",
                          f"file:{clip}?realtime=0", "--max-frames", "10"],
                         capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "stopped after 10 frames" in run.stderr
    sim = subprocess.run([sys.executable, "-c", BLOCKED, "run", "--config", str(profile), "--source",
                          f"sim:{REPO / 'simulator/scenarios/reservoir_day_angler.toml'}"],
                         capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert sim.returncode == 2 and "Traceback" not in sim.stderr
    assert sim.stderr.strip().splitlines()[-1].startswith("edge-node: sim: source"), sim.stderr
