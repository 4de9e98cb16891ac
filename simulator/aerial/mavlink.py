"""A drone scenario's telemetry as a flight controller sends it: MAVLink 2 over UDP, or JSON lines.

Per sample (at --rate Hz, scene time t), in this order, so a receiver that applies the latest gimbal
pitch to the next position gets the pitch of the same sample:

    HEARTBEAT, SYSTEM_TIME        once per second (and before the first sample), from the autopilot
    ATTITUDE                      autopilot: yaw = heading (rad, -pi..pi), roll = pitch = 0
    MOUNT_ORIENTATION             gimbal: pitch (deg, -90 = straight down), yaw 0 (relative), yaw_absolute
    GIMBAL_DEVICE_ATTITUDE_STATUS gimbal: q = (cos(p/2), 0, sin(p/2), 0), yaw in the vehicle frame
    GLOBAL_POSITION_INT           autopilot: lat/lon (degE7), relative_alt (mm), alt (mm AMSL), hdg (cdeg)

time_boot_ms is BOOT_LEAD_S + t (the autopilot booted before the scene started); SYSTEM_TIME pairs it
with time_unix_usec = (start_wall + t) * 1e6, so a receiver stamps each sample with Unix time
start_wall + t, the wall time of the frame rendered at t.  The values are the noisy telemetry
(simulator.aerial.flight), the same numbers as telemetry.jsonl.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import socket
import sys
import time
from pathlib import Path

from simulator.aerial.flight import Flight

BOOT_LEAD_S = 30.0
SYSTEM_ID = 1
AUTOPILOT_COMPONENT = 1  # MAV_COMP_ID_AUTOPILOT1
GIMBAL_COMPONENT = 154  # MAV_COMP_ID_GIMBAL
FAST_PAUSE_S = 0.0005  # --fast: a breath between samples so a receiver on the same machine keeps up


def _load(scenario_path, seed: int | None = None):
    from simulator.aerial import is_aerial
    from simulator.scenario import ScenarioError, load_scenario

    sc = load_scenario(scenario_path)
    if not is_aerial(sc):
        raise ScenarioError([f"{scenario_path}: drone: not a drone scenario (no [drone] flight): no telemetry"])
    return sc, Flight(sc, sc.seed if seed is None else seed)


def sample_times(duration_s: float, rate_hz: float) -> list[float]:
    n = int(math.floor(duration_s * rate_hz + 1e-9))
    return [k / rate_hz for k in range(n + 1)]


class Encoder:
    """Packs one telemetry sample into MAVLink 2 datagrams (autopilot and gimbal components)."""

    def __init__(self, elevation_m: float = 0.0):
        from pymavlink.dialects.v20 import ardupilotmega as mavlink

        self.m = mavlink
        self.autopilot = mavlink.MAVLink(None, srcSystem=SYSTEM_ID, srcComponent=AUTOPILOT_COMPONENT)
        self.gimbal = mavlink.MAVLink(None, srcSystem=SYSTEM_ID, srcComponent=GIMBAL_COMPONENT)
        self.elevation_m = elevation_m
        self._second: int | None = None

    @staticmethod
    def _pack(mav, msg) -> bytes:
        buf = msg.pack(mav)
        mav.seq = (mav.seq + 1) % 256
        return buf

    def encode(self, sample: dict, velocity: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> list[bytes]:
        m, ap, gb = self.m, self.autopilot, self.gimbal
        t = sample["t"]
        boot_ms = int(round((BOOT_LEAD_S + t) * 1000))
        out = []
        if self._second is None or int(t) != self._second:
            self._second = int(t)
            out.append(self._pack(ap, ap.heartbeat_encode(m.MAV_TYPE_QUADROTOR, m.MAV_AUTOPILOT_ARDUPILOTMEGA,
                                                          m.MAV_MODE_FLAG_SAFETY_ARMED | m.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED,
                                                          3, m.MAV_STATE_ACTIVE)))
            out.append(self._pack(ap, ap.system_time_encode(int(round(sample["wall"] * 1e6)), boot_ms)))
        heading, pitch = sample["heading_deg"], sample["gimbal_pitch_deg"]
        yaw = math.radians(((heading + 180.0) % 360.0) - 180.0)
        out.append(self._pack(ap, ap.attitude_encode(boot_ms, 0.0, 0.0, yaw, 0.0, 0.0, 0.0)))
        out.append(self._pack(gb, gb.mount_orientation_encode(boot_ms, 0.0, pitch, 0.0, heading)))
        half = math.radians(pitch) / 2
        flags = (m.GIMBAL_DEVICE_FLAGS_ROLL_LOCK | m.GIMBAL_DEVICE_FLAGS_PITCH_LOCK
                 | m.GIMBAL_DEVICE_FLAGS_YAW_IN_VEHICLE_FRAME)
        out.append(self._pack(gb, gb.gimbal_device_attitude_status_encode(
            0, 0, boot_ms, flags, [math.cos(half), 0.0, math.sin(half), 0.0], 0.0, 0.0, 0.0, 0)))
        ve, vn, vu = velocity
        out.append(self._pack(ap, ap.global_position_int_encode(
            boot_ms, int(round(sample["lat"] * 1e7)), int(round(sample["lon"] * 1e7)),
            int(round((self.elevation_m + sample["altitude_m"]) * 1000)), int(round(sample["altitude_m"] * 1000)),
            int(round(vn * 100)), int(round(ve * 100)), int(round(-vu * 100)), int(round(heading * 100)) % 36000)))
        return out


def stream(scenario_path, host: str | None = None, port: int | None = None, *, fast: bool = True,
           start_wall: float | None = None, rate_hz: float = 10.0, jsonl: str | Path | None = None,
           seed: int | None = None) -> dict:
    """Send the scenario's telemetry as MAVLink 2 datagrams to host:port (and/or write JSON lines).

    fast: as quickly as a local receiver keeps up; otherwise paced in real time from now.
    start_wall: Unix time of scene t = 0 (default: the scenario's [scenario] start).
    Returns a summary {"samples", "datagrams", ...}.
    """
    sc, flight = _load(scenario_path, seed)
    wall0 = sc.start.timestamp() if start_wall is None else float(start_wall)
    encoder = Encoder(sc.world.elevation_m) if host is not None else None
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM) if host is not None else None
    out = open(jsonl, "w", encoding="utf-8") if jsonl is not None else None  # noqa: SIM115
    times = sample_times(sc.duration_s, rate_hz)
    datagrams = 0
    t0 = time.monotonic()
    try:
        for t in times:
            if not fast:
                delay = t0 + t - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            sample = flight.sample(t, wall0)
            if out is not None:
                out.write(json.dumps(sample) + "\n")
                out.flush()
            if sock is not None and encoder is not None:
                s = flight.state(t)
                for buf in encoder.encode(sample, (s.v_east, s.v_north, s.v_up)):
                    sock.sendto(buf, (host, port))
                    datagrams += 1
                if fast:
                    time.sleep(FAST_PAUSE_S)
    finally:
        if sock is not None:
            sock.close()
        if out is not None:
            out.close()
    return {"scenario": sc.name, "samples": len(times), "datagrams": datagrams, "rate_hz": rate_hz,
            "start_wall": wall0, "udp": f"{host}:{port}" if host is not None else None,
            "jsonl": str(jsonl) if jsonl is not None else None, "seconds": round(time.monotonic() - t0, 3)}


# ---------------------------------------------------------------------------- edge-sim mavlink


def add_mavlink(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mavlink", help="stream a drone scenario's telemetry as MAVLink 2 over UDP (or JSON lines)",
                       description="Send the drone's telemetry (true pose + the scenario's noise) as a flight "
                                   "controller would: HEARTBEAT, SYSTEM_TIME, ATTITUDE, MOUNT_ORIENTATION, "
                                   "GIMBAL_DEVICE_ATTITUDE_STATUS, GLOBAL_POSITION_INT (docs/scenarios.md).")
    p.add_argument("scenario", help="drone scenario TOML file, or the name of a shipped one")
    p.add_argument("--udp", metavar="HOST:PORT", help="send MAVLink 2 datagrams here (e.g. 127.0.0.1:14550)")
    p.add_argument("--jsonl", type=Path, metavar="PATH", help="also (or only) write the samples as JSON lines")
    p.add_argument("--rate", type=float, default=10.0, metavar="HZ", help="samples per second (default 10)")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--realtime", dest="fast", action="store_false", help="pace samples in real time (default)")
    pace.add_argument("--fast", dest="fast", action="store_true", help="send as fast as a receiver keeps up")
    p.add_argument("--start-wall", metavar="UNIX|now",
                   help="Unix time of scene t=0 (default: the scenario's start, the clock of its sim: frames)")
    p.add_argument("--seed", type=int, help="override the scenario seed (the telemetry noise changes with it)")
    p.set_defaults(func=cmd_mavlink, fast=False)


def _bad(scenario: str, what: str) -> int:
    print(f"{scenario}: {what}", file=sys.stderr)
    return 2


def cmd_mavlink(args: argparse.Namespace) -> int:
    from simulator.scenario import ScenarioError

    host = port = None
    if args.udp:
        host, sep, port_s = args.udp.rpartition(":")
        if not sep or not host or not port_s.isdigit() or not 0 < int(port_s) < 65536:
            return _bad(args.scenario, f"--udp: expected HOST:PORT, got {args.udp!r}")
        port = int(port_s)
    if host is None and args.jsonl is None:
        return _bad(args.scenario, "give --udp HOST:PORT and/or --jsonl PATH")
    if not 0 < args.rate <= 200:
        return _bad(args.scenario, f"--rate: must be in (0, 200] Hz, got {args.rate:g}")
    start_wall = None
    if args.start_wall:
        if args.start_wall == "now":
            start_wall = time.time()
        else:
            try:
                start_wall = float(args.start_wall)
            except ValueError:
                return _bad(args.scenario, f"--start-wall: expected Unix seconds or 'now', got {args.start_wall!r}")
    try:
        summary = stream(args.scenario, host, port, fast=args.fast, start_wall=start_wall, rate_hz=args.rate,
                         jsonl=args.jsonl, seed=args.seed)
    except ScenarioError as e:
        for line in e.problems:
            print(line, file=sys.stderr)
        return 2
    except OSError as e:
        return _bad(args.scenario, f"--udp/--jsonl: {e.strerror or e}")
    except KeyboardInterrupt:
        return 130
    with contextlib.suppress(BrokenPipeError):
        print(json.dumps(summary))
    return 0
