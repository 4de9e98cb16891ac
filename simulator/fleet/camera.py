"""An IP camera for the fleet: rtsp-server-perl fed by ffmpeg looping a pre-rendered scenario video.

The scenario is rendered once with `edge-sim render`, re-encoded with a keyframe every two seconds
(as IP cameras do, so that a node that reconnects mid-stream gets a picture within two seconds), then
published with `ffmpeg -re -stream_loop -1 -c copy`.  The relay forgets a publisher that vanished
without a TEARDOWN only when it restarts, so a camera that loses power takes both down, and
`power_on()` brings both back on the same ports.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import socket
import subprocess
import time
from pathlib import Path

from simulator.broker import find_tool, free_port


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


def render_camera_clip(scenario: Path, folder: Path) -> Path:
    """`edge-sim render` the scenario, then re-encode it with a short GOP for streaming."""
    from simulator.cli import main as sim_main

    folder.mkdir(parents=True, exist_ok=True)
    clip = folder / "camera.mp4"
    if clip.exists():
        return clip
    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()):
        status = sim_main(["render", str(scenario), "--out", str(folder / "render")])
    if status != 0:
        raise RuntimeError(f"edge-sim render {scenario} failed")
    fps = json.loads(out.getvalue().strip().splitlines()[-1])["fps"]
    gop = max(1, round(2 * fps))
    subprocess.run([find_tool("ffmpeg"), "-loglevel", "error", "-y", "-i", str(folder / "render" / "video.mp4"),
                    "-c:v", "libx264", "-preset", "veryfast", "-g", str(gop), "-keyint_min", str(gop),
                    "-sc_threshold", "0", "-pix_fmt", "yuv420p", "-an", str(clip)],
                   check=True, timeout=120, capture_output=True)
    return clip


class RtspCamera:
    def __init__(self, clip: Path, log_dir: Path):
        self.server_bin = find_tool("rtsp-server-perl")
        self.ffmpeg = find_tool("ffmpeg")
        self.clip = clip
        self.log_dir = log_dir
        self.client_port = free_port()
        self.source_port = free_port()
        self.rtp_start = random.randrange(20000, 40000, 2)
        self.server: subprocess.Popen | None = None
        self.pusher: subprocess.Popen | None = None
        self.power_cycles = 0

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.client_port}/live"

    @property
    def on(self) -> bool:
        return self.pusher is not None and self.pusher.poll() is None

    def power_on(self) -> None:
        with open(self.log_dir / "camera.log", "ab") as log:
            self.server = subprocess.Popen(
                [self.server_bin, "--clientport", str(self.client_port), "--serverport", str(self.source_port),
                 "--client_listen_address", "127.0.0.1", "--source_listen_address", "127.0.0.1",
                 "--rtp_start_port", str(self.rtp_start), "--loglevel", "1"],
                stdout=subprocess.DEVNULL, stderr=log)
            wait_port(self.client_port)
            wait_port(self.source_port)
            self.pusher = subprocess.Popen(
                [self.ffmpeg, "-loglevel", "error", "-re", "-stream_loop", "-1", "-i", str(self.clip), "-c", "copy",
                 "-f", "rtsp", f"rtsp://127.0.0.1:{self.source_port}/live"],
                stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL)

    def power_off(self) -> None:
        for proc in (self.pusher, self.server):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
        self.pusher = self.server = None
        self.power_cycles += 1

    def close(self) -> None:
        self.power_off()
