"""Telemetry sources: each fills a PoseTrack on its own thread.

- mavlink:udpin:HOST:PORT (or tcp:HOST:PORT, or a serial port /dev/ttyAMA0,921600): the flight
  controller's MAVLink stream (pymavlink).  Position and
  altitude from GLOBAL_POSITION_INT (relative_alt, hdg), the camera's tilt from MOUNT_ORIENTATION or
  GIMBAL_DEVICE_ATTITUDE_STATUS, and the clock from SYSTEM_TIME (time_unix_usec) so samples line up
  with frames; without SYSTEM_TIME a sample is stamped when it arrives.
- jsonl:PATH: JSON lines {"wall", "lat", "lon", "altitude_m", "heading_deg", "gimbal_pitch_deg"},
  followed as the file grows.
- sim: the simulator's own telemetry, frame by frame, for a sim: source of a drone scenario.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
import time
from pathlib import Path

from .poses import Pose, PoseTrack

log = logging.getLogger("edge.telemetry")


class TelemetryError(Exception):
    pass


class _Reader:
    """A reader thread that fills `track` until stopped."""

    def __init__(self, track: PoseTrack):
        self.track = track
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self):
        self._thread = threading.Thread(target=self._run, name="telemetry", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(3)

    def _run(self) -> None:
        raise NotImplementedError


class MavlinkTelemetry(_Reader):
    def __init__(self, address: str, track: PoseTrack):
        super().__init__(track)
        self.address = address
        self._offset: float | None = None  # Unix time minus the autopilot's boot time
        self._pitch = -90.0
        self.messages = 0

    def start(self) -> MavlinkTelemetry:
        try:
            from pymavlink import mavutil
        except ImportError:
            raise TelemetryError("mavlink telemetry needs pymavlink (pip install pymavlink)") from None
        device, _, baud = self.address.partition(",")  # a serial port may name its speed: /dev/ttyAMA0,921600
        try:
            self._conn = mavutil.mavlink_connection(device, baud=int(baud or 57600), source_system=254)
        except Exception as exc:
            raise TelemetryError(f"telemetry mavlink:{self.address}: {exc} (expected udpin:HOST:PORT, "
                                 "tcp:HOST:PORT or a serial port /dev/NAME[,BAUD])") from None
        return super().start()

    def stop(self) -> None:
        super().stop()
        with contextlib.suppress(Exception):
            self._conn.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self._conn.recv_match(blocking=True, timeout=0.5)
            except Exception as exc:  # a malformed datagram must not end telemetry
                log.warning("telemetry: %s", exc)
                continue
            if msg is None:
                continue
            self.messages += 1
            kind = msg.get_type()
            if kind == "SYSTEM_TIME" and msg.time_unix_usec:
                self._offset = msg.time_unix_usec / 1e6 - msg.time_boot_ms / 1000.0
            elif kind == "MOUNT_ORIENTATION":
                self._pitch = float(msg.pitch)
            elif kind == "GIMBAL_DEVICE_ATTITUDE_STATUS":
                w, x, y, z = msg.q
                self._pitch = math.degrees(math.asin(max(-1.0, min(1.0, 2 * (w * y - z * x)))))
            elif kind == "GLOBAL_POSITION_INT":
                wall = (self._offset + msg.time_boot_ms / 1000.0) if self._offset is not None else time.time()
                heading = msg.hdg / 100.0 if msg.hdg != 65535 else 0.0
                self.track.add(Pose(wall, msg.lat / 1e7, msg.lon / 1e7, msg.relative_alt / 1000.0, heading,
                                    self._pitch))


class JsonlTelemetry(_Reader):
    def __init__(self, path: Path, track: PoseTrack):
        super().__init__(track)
        self.path = path

    def _run(self) -> None:
        position = 0
        while not self._stop.is_set():
            try:
                with open(self.path, encoding="utf-8") as f:
                    f.seek(position)
                    while line := f.readline():
                        if not line.endswith("\n"):
                            break
                        position = f.tell()
                        self._add(line)
            except FileNotFoundError:
                pass
            self._stop.wait(0.1)

    def _add(self, line: str) -> None:
        try:
            self.track.add(Pose.from_sample(json.loads(line)))
        except (ValueError, KeyError, TypeError):
            log.warning("telemetry: skipped a line that is not a pose: %s", line.strip()[:80])


def open_telemetry(source: str, track: PoseTrack, base_dir: Path = Path(".")):
    """A started telemetry reader for `source`, or None for `sim` (the node feeds the track)."""
    if source == "sim":
        return None
    if source.startswith("mavlink:"):
        return MavlinkTelemetry(source[len("mavlink:"):], track).start()
    path = Path(source[len("jsonl:"):])
    return JsonlTelemetry(path if path.is_absolute() else base_dir / path, track).start()
