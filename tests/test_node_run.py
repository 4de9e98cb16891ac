"""edge-node run: opens the source, reports fps once a second, stops cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from .conftest import BIN, PROFILES, REPO, run_cli

RESERVOIR = str(PROFILES / "reservoir.toml")


def start_node(*args: str) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "edge-node"), "run", "--config", RESERVOIR, "--no-link", *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_line(proc: subprocess.Popen, needle: str, timeout: float = 30.0) -> list[str]:
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return seen
    raise AssertionError(f"{needle!r} never printed; got:\n{''.join(seen)}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_run_reports_fps_and_stops_cleanly_on_signal(level_clip, signum):
    proc = start_node("--source", f"file:{level_clip}?loop=1")
    try:
        lines = wait_for_line(proc, "fps ")
        lines += wait_for_line(proc, "fps ")  # and again a second later
        fps_lines = [line for line in lines if "| source streaming |" in line]
        assert len(fps_lines) >= 2
        proc.send_signal(signum)
        _, rest = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0, rest
    assert f"{signal.Signals(signum).name} received, stopping" in rest
    assert "stopped after" in rest and "Traceback" not in rest


def test_run_ends_with_the_file_and_counts_every_frame_in_lockstep(level_clip):
    result = run_cli("edge-node", "run", "--config", RESERVOIR, "--no-link", "--source", f"file:{level_clip}?realtime=0")
    assert result.returncode == 0, result.stderr
    assert "stopped after 30 frames" in result.stderr
    assert "source ended" in result.stderr


def test_max_frames_bounds_a_run(level_clip):
    result = run_cli("edge-node", "run", "--config", RESERVOIR, "--no-link", "--source",
                     f"file:{level_clip}?loop=1&realtime=0",
                     "--max-frames", "45")
    assert result.returncode == 0, result.stderr
    assert "stopped after 45 frames" in result.stderr


def test_picamera2_off_a_pi_is_one_line_and_exit_2():
    result = run_cli("edge-node", "run", "--config", RESERVOIR, "--no-link")  # the reservoir box uses picamera2:
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("edge-node:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr  # after the model's log line: one error
    assert errors[0].startswith("edge-node: picamera2: not available on this machine")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "file:/nonexistent/clip.mp4"], "edge-node: file:/nonexistent/clip.mp4: not found"),
        (["--source", "webcam:1"], "edge-node: unknown source 'webcam:1'"),
    ],
)
def test_bad_sources_are_one_line_errors(args, message):
    result = run_cli("edge-node", "run", "--config", RESERVOIR, "--no-link", *args)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("edge-node:")]
    assert errors == [message] or (len(errors) == 1 and errors[0].startswith(message)), result.stderr
    assert "Traceback" not in result.stderr


def test_bad_profile_is_reported_like_check_config(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[node]\nid = "x"\nkind = "camera"\nfsp = 1\n')
    result = run_cli("edge-node", "run", "--config", str(bad))
    assert result.returncode == 2
    assert f"{bad}: node.fsp: unknown key" in result.stderr


def test_a_dock_needs_its_signing_key(tmp_path):
    result = run_cli("edge-node", "run", "--config", str(PROFILES / "dock.toml"), "--state-dir", str(tmp_path))
    assert result.returncode == 2 and "edge-node keys init" in result.stderr
