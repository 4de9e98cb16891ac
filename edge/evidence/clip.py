"""Cutting a clip: encoded frames from the pre-roll buffer muxed into an H.264 MP4, no re-encoding."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from .buffer import EncodedFrame
from .files import PART, finish_atomic


@dataclass(frozen=True)
class ClipInfo:
    frames: int
    start_mono: float
    end_mono: float
    start_wall: float
    end_wall: float

    @property
    def duration_s(self) -> float:
        return self.end_mono - self.start_mono


def write_clip(path: Path, frames: list[EncodedFrame], size: tuple[int, int], fps: float) -> ClipInfo:
    """Mux `frames` (starting at a keyframe) into `path`; times start at 0 in the file."""
    import av

    frames = frames[next(i for i, f in enumerate(frames) if f.keyframe):]
    tmp = path.with_name(path.name + PART)
    container = av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"})
    try:
        stream = container.add_stream("h264", rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height = size
        stream.time_base = Fraction(1, 1000)
        t0, last = frames[0].mono, -1
        for frame in frames:
            pts = max(last + 1, round((frame.mono - t0) * 1000))
            last = pts
            packet = av.Packet(frame.data)
            packet.stream = stream
            packet.pts = packet.dts = pts
            packet.time_base = Fraction(1, 1000)
            packet.is_keyframe = frame.keyframe
            container.mux(packet)
        container.close()
    except BaseException:
        with contextlib.suppress(Exception):
            container.close()
        tmp.unlink(missing_ok=True)
        raise
    try:
        os.chmod(tmp, 0o640)  # like every other evidence file (PyAV creates it 0644 through the umask)
        finish_atomic(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
    return ClipInfo(len(frames), frames[0].mono, frames[-1].mono, frames[0].wall, frames[-1].wall)
