"""Shared test fixtures: real tools (ffmpeg, RTSP server), real video files, free ports."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
# The simulator's sim: source is a plugin of the node (edge.capture.registry); a virtualenv installed
# before its entry point existed finds it through this variable (the nodes the tests start inherit it).
os.environ.setdefault("EDGE_FRAME_SOURCES", "sim=simulator.capture:open_sim")
PROFILES = REPO / "firmware_config"
SCENARIOS = REPO / "simulator" / "scenarios"
BIN = Path(sys.executable).parent


def require_tool(name: str) -> str:
    """The path of an OS tool the tests need; `make test` installs them (make test-deps)."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        pytest.fail(f"{name} is not installed; run `make test-deps` (or apt-get install it)")
    return path


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    return free_ports(1, kind)[0]


def free_ports(n: int, kind: int = socket.SOCK_STREAM) -> list[int]:
    """n different free ports: each stays bound until all are picked (two free_port() calls in a row
    can return the same port, and a broker given it twice fails with 'Address already in use')."""
    sockets = [socket.socket(socket.AF_INET, kind) for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def level_video(path: Path, n: int = 30, fps: float = 10.0, size: tuple[int, int] = (320, 240)) -> Path:
    """An H.264 clip whose frame i is a flat grey of level 8*i: the order of frames can be read back."""
    from edge.video import H264Writer

    w, h = size
    with H264Writer(path, fps, size, crf=10) as writer:
        for i in range(n):
            writer.write(np.full((h, w, 3), level_of(i), np.uint8))
    return path


def level_of(i: int) -> int:
    return (8 * i) % 256


def frame_level(image: np.ndarray) -> int:
    """Invert level_of (up to codec noise)."""
    return round(float(image.mean()) / 8)


@pytest.fixture(autouse=True, scope="session")
def _state_dir(tmp_path_factory):
    """Nodes started by the tests keep their state in a temporary folder, never /var/lib; it is
    provisioned like a box's (`edge-node keys init`), as the shipped profiles record evidence."""

    from edge.crypto import generate_keypair

    state = tmp_path_factory.mktemp("state")
    generate_keypair(state / "keys" / "node.key", state / "keys" / "node.pub")
    os.environ["EDGE_STATE_DIR"] = str(state)


@pytest.fixture(scope="session")
def level_clip(tmp_path_factory) -> Path:
    return level_video(tmp_path_factory.mktemp("video") / "levels.mp4")


def run_cli(*args: str, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    """Run one of the project's commands (edge-node, edge-sim, edge-hub) from the virtualenv."""
    cmd, *rest = args
    return subprocess.run([str(BIN / cmd), *rest], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, **kwargs)


# Session fixtures of the hub-service tests: one mosquitto (tests/hub_rig.py) and one PostgreSQL
# server (tests/postgres.py), shared by every test that asks for them.
from .hub_rig import mosquitto  # noqa: E402, F401
from .postgres import postgres  # noqa: E402, F401
