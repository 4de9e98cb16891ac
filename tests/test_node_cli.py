"""The node's command line as an operator meets it: start-up errors, one node per state folder,
evidence inspected on a read-only mount, exports that verify first and never overwrite."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import BIN, PROFILES, REPO, run_cli
from .evidence_rig import evidence_node


def clean_env(*drop: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in drop}


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("edge-node:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("how", ["profile", "--source"])
def test_a_missing_camera_password_stops_the_node_with_one_line(tmp_path, how):
    if how == "profile":  # the market profile's rtsp:// URL uses ${EDGE_CAMERA_PASSWORD}
        args = ["--config", str(PROFILES / "market.toml")]
        name = "EDGE_CAMERA_PASSWORD"
    else:
        args = ["--config", str(PROFILES / "reservoir.toml"), "--source", "rtsp://admin:${EDGE_TEST_NOPE}@10.0.0.1/s"]
        name = "EDGE_TEST_NOPE"
    result = run_cli("edge-node", "run", *args, "--state-dir", str(tmp_path), "--no-link",
                     env=clean_env("EDGE_CAMERA_PASSWORD", "EDGE_TEST_NOPE"))
    line = one_line_error(result)
    assert name in line and "not set" in line and "source" in line


def test_a_missing_broker_password_variable_stops_the_node_with_one_line(tmp_path):
    result = run_cli("edge-node", "run", "--config", str(PROFILES / "reservoir.toml"), "--state-dir", str(tmp_path),
                     "--source", f"sim:{REPO / 'simulator/scenarios/reservoir_day_angler.toml'}",
                     env=clean_env("EDGE_MQTT_PASSWORD"))
    line = one_line_error(result)
    assert "link.password_env" in line and "EDGE_MQTT_PASSWORD" in line


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-ev")
    profile = evidence_node(folder)
    state = folder / "state"
    assert run_cli("edge-node", "keys", "init", "--state-dir", str(state)).returncode == 0
    result = run_cli("edge-node", "run", "--config", str(profile), "--state-dir", str(state), "--max-frames", "130")
    assert result.returncode == 0, result.stderr
    ids = sorted(p.name for p in (state / "evidence").iterdir() if (p / "manifest.json").exists())
    assert len(ids) >= 2
    return profile, state, ids


def test_a_second_node_on_the_same_state_folder_is_refused_with_the_first_ones_pid(bundles, tmp_path):
    profile, _, _ = bundles
    state = tmp_path / "state"
    assert run_cli("edge-node", "keys", "init", "--state-dir", str(state)).returncode == 0
    first = subprocess.Popen([str(BIN / "edge-node"), "run", "--config", str(profile), "--state-dir", str(state),
                              "--duration", "60"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (state / "node.lock").exists():
            time.sleep(0.05)
        time.sleep(0.5)
        second = run_cli("edge-node", "run", "--config", str(profile), "--state-dir", str(state), "--max-frames", "5")
        line = one_line_error(second)
        assert f"in use by pid {first.pid}" in line and str(state) in line
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    # A kill -9 leaves no stale lock: the next node starts.
    again = run_cli("edge-node", "run", "--config", str(profile), "--state-dir", str(state), "--max-frames", "5")
    assert again.returncode == 0, again.stderr


def test_evidence_list_and_verify_work_on_a_read_only_mount(bundles, tmp_path):
    _, state, ids = bundles
    card = tmp_path / "card"
    shutil.copytree(state, card)
    mount = tmp_path / "mnt"
    mount.mkdir()
    if subprocess.run(["mount", "--bind", str(card), str(mount)], capture_output=True).returncode != 0:
        pytest.skip("cannot bind-mount here (needs root)")
    try:
        if subprocess.run(["mount", "-o", "remount,bind,ro", str(mount)], capture_output=True).returncode != 0:
            pytest.skip("cannot remount read-only here")
        listed = run_cli("edge-node", "evidence", "list", "--state-dir", str(mount))
        assert listed.returncode == 0, listed.stderr
        assert all(i in listed.stdout for i in ids)
        verified = run_cli("edge-node", "evidence", "verify", "--all", "--state-dir", str(mount))
        assert verified.returncode == 0, verified.stderr
        assert f"{len(ids)} bundle(s) verified" in verified.stdout
        out = tmp_path / "export"
        exported = run_cli("edge-node", "evidence", "export", ids[0], "--out", str(out), "--state-dir", str(mount))
        assert exported.returncode == 0, exported.stderr
    finally:
        subprocess.run(["umount", str(mount)], check=False)
    assert sorted(os.listdir(card)) == sorted(os.listdir(state)), "inspection wrote to the card"


def test_export_verifies_first_and_never_overwrites(bundles, tmp_path):
    _, state, ids = bundles
    copy = tmp_path / "state"
    shutil.copytree(state, copy)
    clip = copy / "evidence" / ids[0] / "clip.mp4"
    data = bytearray(clip.read_bytes())
    data[len(data) // 2] ^= 0x01
    clip.write_bytes(bytes(data))
    out = tmp_path / "tampered"
    result = run_cli("edge-node", "evidence", "export", ids[0], "--out", str(out), "--state-dir", str(copy))
    assert result.returncode == 1 and "does not verify" in result.stderr and "clip.mp4" in result.stderr
    assert not out.exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "case-notes.txt").write_text("keep me")
    result = run_cli("edge-node", "evidence", "export", ids[1], "--out", str(existing), "--state-dir", str(copy))
    line = one_line_error(result)
    assert "exists" in line and (existing / "case-notes.txt").read_text() == "keep me"
    assert sorted(os.listdir(existing)) == ["case-notes.txt"]
    good = run_cli("edge-node", "evidence", "export", ids[1], "--out", str(tmp_path / "new"), "--state-dir", str(copy))
    assert good.returncode == 0 and "verified" in good.stdout
    assert (Path(tmp_path / "new") / "SHA256SUMS").exists()


# --- check-config and --set -----------------------------------------------------------------------

def profile_with_model(tmp_path: Path, corrupt: bool) -> Path:
    import hashlib
    import json

    model = tmp_path / "model"
    shutil.copytree(REPO / "models" / "default", model)
    if corrupt:  # not a model at all, yet its hash is the manifest's
        (model / "model.onnx").write_bytes(b"\x08\x07garbage" * 1000)
        manifest = json.loads((model / "manifest.json").read_text())
        manifest["sha256"] = hashlib.sha256((model / "model.onnx").read_bytes()).hexdigest()
        (model / "manifest.json").write_text(json.dumps(manifest))
    text = (PROFILES / "reservoir.toml").read_text().replace('model = "../models/default"', f'model = "{model}"')
    profile = tmp_path / "site.toml"
    profile.write_text(text)
    return profile


def test_check_config_opens_the_onnx_session(tmp_path):
    good = run_cli("edge-node", "check-config", str(profile_with_model(tmp_path / "a", corrupt=False)))
    assert good.returncode == 0, good.stderr
    bad = run_cli("edge-node", "check-config", str(profile_with_model(tmp_path / "b", corrupt=True)))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "detect.model" in bad.stderr and "ONNX" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_check_config_warns_about_a_password_over_plain_tcp(tmp_path):
    result = run_cli("edge-node", "check-config", str(PROFILES / "reservoir.toml"))
    assert result.returncode == 0
    assert "warning: link: the broker password goes to hub.local:1883 in clear text" in result.stderr
    tls = tmp_path / "tls.toml"
    text = (PROFILES / "reservoir.toml").read_text().replace('model = "../models/default"',
                                                            f'model = "{REPO / "models" / "default"}"')
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    tls.write_text(text.replace("port = 1883", f'port = 8883\ntls = {{ ca_file = "{ca}" }}'))
    quiet = run_cli("edge-node", "check-config", str(tls))
    assert quiet.returncode == 0, quiet.stderr
    assert "clear text" not in quiet.stderr


def test_set_errors_name_the_flag_and_list_indices_work(tmp_path):
    base = ["edge-node", "run", "--config", str(PROFILES / "reservoir.toml"), "--state-dir", str(tmp_path),
            "--no-link", "--max-frames", "1"]
    bad = run_cli(*base, "--set", "capture.fps=abc")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("--set capture.fps=abc: capture.fps:"), bad.stderr
    outside = run_cli(*base, "--set", "zones[7].name=x")
    assert outside.returncode == 2 and "zones[7] does not exist" in outside.stderr and "unknown key" not in outside.stderr
    wrong = run_cli(*base, "--set", "zones[0].polygon=[[0.0, 0.0]]")
    assert wrong.returncode == 2 and wrong.stderr.startswith("--set zones[0].polygon=[[0.0, 0.0]]: zones[0].polygon")


def test_set_can_change_one_zone_of_a_profile():
    from edge.config import load_profile
    from edge.config.profile import parse_override

    polygon = "[[0.0, 0.5], [1.0, 0.5], [1.0, 0.9], [0.0, 0.9]]"
    profile = load_profile(PROFILES / "reservoir.toml", overrides=[parse_override(f"zones[0].polygon={polygon}")])
    assert profile.zones[0].polygon[0] == (0.0, 0.5) or list(profile.zones[0].polygon[0]) == [0.0, 0.5]
    assert profile.zones[1].name == "water"


def test_set_replaces_a_whole_top_level_section_or_list():
    """`--set rules=[...]` (no dot: a key at the top of the profile), as the fleet simulator gives it."""
    from edge.config import load_profile
    from edge.config.profile import parse_override

    rules = '[{name = "only", kind = "fishing", zones = ["shore"], dwell_s = 4}]'
    profile = load_profile(PROFILES / "reservoir.toml", overrides=[parse_override(f"rules={rules}")])
    assert [r.name for r in profile.rules] == ["only"]


# --- systemd READY and the once-a-second line ------------------------------------------------------

def test_ready_waits_for_the_first_frame_and_the_log_line_counts_frames_honestly(level_clip, tmp_path):
    import re

    from .test_watchdog import NotifySocket, fields, run_node

    absent = NotifySocket()
    try:
        result = run_node(absent, "--config", str(PROFILES / "reservoir.toml"), "--no-link",
                          "--source", "usb:7", "--duration", "3")
        assert "Traceback" not in result.stderr and "reconnect" in result.stderr, result.stderr
        sent = [fields(m) for m in absent.settle()]
        assert not any("READY" in m for m in sent), sent  # "source open" it is not
    finally:
        absent.close()
    present = NotifySocket()
    try:
        # A 10 fps clip in real time: the detector's reads time out between frames (0.1 s), which is
        # no reason to say "fps 0.0".
        result = run_node(present, "--config", str(PROFILES / "reservoir.toml"), "--no-link",
                          "--source", f"file:{level_clip}?loop=1", "--duration", "5")
        assert result.returncode == 0, result.stderr
        sent = [fields(m) for m in present.settle()]
        assert sent[0].get("READY") == "1" and "streaming" in sent[0]["STATUS"], sent[:2]
    finally:
        present.close()
    rates = [float(r) for r in re.findall(r"INFO edge.node: fps ([0-9.]+)", result.stderr)]
    assert len(rates) >= 3, result.stderr
    assert min(rates) > 0, rates


def test_every_evidence_file_is_0640_the_clip_included(bundles):
    _, state, ids = bundles
    for bundle in ids:
        for path in (state / "evidence" / bundle).iterdir():
            assert path.stat().st_mode & 0o777 == 0o640, (path, oct(path.stat().st_mode))


# --- what a box without a sound card, and OpenCV/FFmpeg, put in the log ---------------------------

LOG_LINE = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: "


def test_aplay_without_a_sound_card_says_so_in_one_line_with_the_file_sink_hint():
    import threading

    import numpy as np

    from edge.speaker.audio import Pcm
    from edge.speaker.sinks import AlsaSink, SinkError

    if shutil.which("aplay") is None:
        pytest.skip("aplay is not installed (alsa-utils)")
    sink = AlsaSink("hw:97,0")  # no such card
    with pytest.raises(SinkError) as err:
        sink.play(Pcm(np.zeros((1600, 1), np.int16), 16000), threading.Event())
    message = str(err.value)
    assert "\n" not in message and message.startswith("aplay failed: ")
    assert 'sink = "file"' in message and "aplay -l" in message


def test_opencv_and_ffmpeg_noise_goes_through_the_log_format(tmp_path):
    import re

    result = run_cli("edge-node", "run", "--config", str(PROFILES / "reservoir.toml"), "--no-link",
                     "--source", "rtsp://127.0.0.1:1/none", "--duration", "3")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert any("edge.native" in line for line in lines), result.stderr
    assert all(re.match(LOG_LINE, line) for line in lines), [x for x in lines if not re.match(LOG_LINE, x)]


def test_the_profiles_own_hint_for_a_scene_without_a_camera_works_from_the_repo_root():
    import re

    text = (PROFILES / "reservoir.toml").read_text()
    hint = re.search(r"--source (sim:\S+)", text).group(1)
    result = run_cli("edge-node", "run", "--config", "firmware_config/reservoir.toml", "--no-link",
                     "--source", hint, "--max-frames", "3")
    assert result.returncode == 0, result.stderr


def test_a_violation_s_log_lines_keep_the_track_id_its_warning_named():
    from types import SimpleNamespace

    from edge.node import Node

    node = SimpleNamespace(_first_named={})

    def named(stage: str, track: int) -> str:
        return Node._objects_named(node, {"id": "v1", "stage": stage, "objects": [{"class": "stall", "track": track}]})

    assert named("warning", 6) == "stall#6"
    assert named("alert", 6) == "stall#6"
    assert named("cleared", 59) == "stall#6; now stall#59"  # the tracker's new id follows, the first leads
    assert node._first_named == {}
