"""rtsp:// against a real RTSP server (rtsp-server-perl from the OS) fed by a real ffmpeg."""

from __future__ import annotations

import random
import subprocess
import time
from pathlib import Path

import pytest

from edge.capture import SourceState, open_source
from edge.config.capture import CaptureConfig
from simulator.fleet.camera import wait_port

from .conftest import free_ports, require_tool


class RtspRig:
    """An IP camera: an RTSP server with an ffmpeg publishing a looping test clip to it.

    The relay forgets a publisher that vanished without a TEARDOWN only when it restarts, so a
    camera that dies is modelled as both going away, as when a real camera loses power.
    """

    def __init__(self, tmp: Path):
        self.server_bin = require_tool("rtsp-server-perl")
        self.ffmpeg = require_tool("ffmpeg")
        self.client_port, self.source_port = free_ports(2)
        self.rtp_start = random.randrange(20000, 40000, 2)
        self.clip = tmp / "camera.mp4"
        subprocess.run([self.ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        "testsrc=size=640x360:rate=10", "-t", "10", "-c:v", "libx264", "-g", "5",
                        "-pix_fmt", "yuv420p", str(self.clip)], check=True, timeout=60)
        self.server: subprocess.Popen | None = None
        self.pusher: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.client_port}/live"

    def start_server(self) -> None:
        self.server = subprocess.Popen(
            [self.server_bin, "--clientport", str(self.client_port), "--serverport", str(self.source_port),
             "--client_listen_address", "127.0.0.1", "--source_listen_address", "127.0.0.1",
             "--rtp_start_port", str(self.rtp_start), "--loglevel", "1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.client_port)
        wait_port(self.source_port)

    def start_camera(self) -> None:
        self.pusher = subprocess.Popen(
            [self.ffmpeg, "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", str(self.clip), "-c", "copy",
             "-f", "rtsp", f"rtsp://127.0.0.1:{self.source_port}/live"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @staticmethod
    def _kill(proc: subprocess.Popen | None) -> None:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)

    def power_on(self) -> None:
        self.start_server()
        self.start_camera()

    def power_off(self) -> None:
        self._kill(self.pusher)
        self._kill(self.server)

    def close(self) -> None:
        self.power_off()


@pytest.fixture
def rig(tmp_path):
    rig = RtspRig(tmp_path)
    yield rig
    rig.close()


def rtsp_source(url: str):
    # The perl relay speaks RTP over UDP only; real cameras usually get tcp (the default).
    cfg = CaptureConfig(source=url, rtsp_transport="udp", open_timeout_s=5, read_timeout_s=2,
                        reconnect={"initial_s": 0.2, "max_s": 1.0})
    return open_source(url, cfg)


def frames_arrive(source, count: int = 5, timeout: float = 20.0) -> list:
    got, deadline = [], time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        frame = source.read(timeout=1.0)
        if frame is not None:
            got.append(frame)
    return got


def test_rtsp_stream_is_read(rig):
    rig.power_on()
    time.sleep(1.0)
    source = rtsp_source(rig.url).start()
    try:
        frames = frames_arrive(source)
        assert len(frames) == 5, f"no frames; source state {source.state} ({source.error})"
        assert frames[0].image.shape == (360, 640, 3)
        assert source.state == SourceState.STREAMING
    finally:
        source.stop()


def test_rtsp_reconnects_when_the_camera_dies_and_comes_back(rig):
    rig.power_on()
    time.sleep(1.0)
    states: list[SourceState] = []
    source = rtsp_source(rig.url)
    source.on_state = lambda state, error: states.append(state)
    source.start()
    try:
        assert len(frames_arrive(source)) == 5
        rig.power_off()  # the camera dies
        assert source.wait_state({SourceState.RECONNECTING}, timeout=30), source.state
        assert source.error
        rig.power_on()  # and comes back
        assert source.wait_state({SourceState.STREAMING}, timeout=60), (source.state, source.error)
        assert len(frames_arrive(source)) == 5
        assert source.stats.reconnects >= 1
        assert states[:2] == [SourceState.STREAMING, SourceState.RECONNECTING]
    finally:
        source.stop()


def test_rtsp_camera_that_is_down_at_start_is_waited_for(rig):
    source = rtsp_source(rig.url).start()  # nothing listens yet: a node booting before its camera
    try:
        assert source.wait_state({SourceState.RECONNECTING}, timeout=20)
        rig.power_on()
        assert source.wait_state({SourceState.STREAMING}, timeout=60), (source.state, source.error)
        assert len(frames_arrive(source)) == 5
    finally:
        source.stop()
