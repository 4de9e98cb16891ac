"""Frame sources: latest-frame semantics, timestamps, files and folders, clear errors."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest

from edge.capture import Frame, SourceError, SourceState, open_source
from edge.capture.base import FrameMailbox
from edge.capture.uri import SourceUriError, expand_env, parse_source_uri, redact_uri

from .conftest import frame_level, level_of, level_video


def read_all(source, limit: int = 10_000, timeout: float = 10.0) -> list[Frame]:
    frames = []
    while len(frames) < limit:
        frame = source.read(timeout=timeout)
        if frame is None:
            break
        frames.append(frame)
    return frames


# --- the mailbox --------------------------------------------------------------------------------

def _frame(seq: int) -> Frame:
    return Frame(np.zeros((2, 2, 3), np.uint8), seq=seq, mono=float(seq), wall=float(seq))


def test_mailbox_keeps_only_the_newest_frame():
    box, stop = FrameMailbox(), threading.Event()
    for seq in range(1, 6):
        box.put(_frame(seq), wait=False, stop=stop)
    assert box.dropped == 4
    assert box.get(timeout=0).seq == 5
    assert box.get(timeout=0) is None


def test_mailbox_in_lockstep_waits_for_the_reader():
    box, stop = FrameMailbox(), threading.Event()
    box.put(_frame(1), wait=True, stop=stop)
    writer = threading.Thread(target=box.put, args=(_frame(2),), kwargs={"wait": True, "stop": stop})
    writer.start()
    writer.join(0.3)
    assert writer.is_alive(), "a lock-step put must wait while the previous frame is unread"
    assert box.get(timeout=1).seq == 1
    writer.join(2)
    assert box.get(timeout=1).seq == 2
    assert box.dropped == 0


# --- URIs ---------------------------------------------------------------------------------------

def test_uri_parsing():
    assert parse_source_uri("file:a.mp4?loop=1&realtime=0").options == {"loop": True, "realtime": False}
    assert parse_source_uri("usb:2").target == "2"
    assert parse_source_uri("picamera2:").scheme == "picamera2"
    assert parse_source_uri("rtsp://cam.local:554/live?channel=1").target == "rtsp://cam.local:554/live?channel=1"
    for bad, message in [
        ("webcam:0", "unknown source"),
        ("usb:front", "device index"),
        ("sim:scene.yaml", "scenario .toml"),
        ("file:a.mp4?speed=2", "unknown option 'speed'"),
        ("file:a.mp4?loop=maybe", "not a boolean"),
        ("rtsp://u:pw@cam/live", "password is inline"),
        ("file:", "needs a path"),
    ]:
        with pytest.raises(SourceUriError, match=message):
            parse_source_uri(bad)


def test_uri_secrets_come_from_the_environment_and_never_reach_logs(monkeypatch):
    uri = "rtsp://admin:${CAM_PW}@10.1.1.5/live"
    monkeypatch.delenv("CAM_PW", raising=False)
    with pytest.raises(SourceUriError, match="CAM_PW"):
        expand_env(uri)
    monkeypatch.setenv("CAM_PW", "s3cret")
    assert expand_env(uri) == "rtsp://admin:s3cret@10.1.1.5/live"
    assert redact_uri(expand_env(uri)) == "rtsp://admin:***@10.1.1.5/live"


# --- file: video --------------------------------------------------------------------------------

def test_video_file_in_lockstep_delivers_every_frame_in_order(level_clip):
    with open_source(f"file:{level_clip}?realtime=0") as source:
        frames = read_all(source)
        assert source.state == SourceState.ENDED
    assert len(frames) == 30
    assert [f.seq for f in frames] == list(range(1, 31))
    assert [frame_level(f.image) for f in frames] == [level_of(i) // 8 for i in range(30)]
    monos = np.array([f.mono for f in frames])
    walls = np.array([f.wall for f in frames])
    assert np.allclose(np.diff(monos), 0.1) and np.allclose(np.diff(walls), 0.1)
    assert abs(walls[0] - time.time()) < 60
    assert frames[0].image.shape == (240, 320, 3) and frames[0].lores is None


def test_video_file_loops(level_clip):
    with open_source(f"file:{level_clip}?realtime=0&loop=1") as source:
        frames = read_all(source, limit=75)
    assert len(frames) == 75
    assert [frame_level(f.image) for f in frames[28:33]] == [28, 29, 0, 1, 2]
    assert np.all(np.diff([f.mono for f in frames]) > 0), "timestamps keep rising across loops"


def test_realtime_source_drops_stale_frames_for_a_slow_consumer(tmp_path):
    clip = level_video(tmp_path / "fast.mp4", n=30, fps=30.0)
    with open_source(f"file:{clip}") as source:
        frames = []
        while (frame := source.read(timeout=5)) is not None:
            frames.append(frame)
            time.sleep(0.2)  # a detector far slower than the camera
        stats = source.stats
    seqs = [f.seq for f in frames]
    assert len(frames) < 30 and stats.dropped > 0
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert stats.captured == 30 and stats.delivered == len(frames)
    assert stats.captured == stats.delivered + stats.dropped, "every frame was delivered or dropped, none queued"


def test_realtime_file_is_paced_at_its_frame_rate(level_clip):
    with open_source(f"file:{level_clip}") as source:
        frames = read_all(source)
    assert len(frames) == 30
    span = frames[-1].mono - frames[0].mono
    assert span >= 2.9 * 0.9, "30 frames at 10 fps span about 2.9 s of monotonic time"


# --- file: folder of images ------------------------------------------------------------------------

def test_image_folder_in_name_order_and_skips_unreadable_files(tmp_path):
    for i in (3, 1, 2):
        cv2.imwrite(str(tmp_path / f"img_{i:02d}.png"), np.full((48, 64, 3), level_of(i), np.uint8))
    (tmp_path / "img_04.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "notes.txt").write_text("ignored")
    with open_source(f"file:{tmp_path}?realtime=0") as source:
        frames = read_all(source)
    assert [frame_level(f.image) for f in frames] == [1, 2, 3]


def test_empty_folder_and_missing_file_fail_at_start(tmp_path):
    with pytest.raises(SourceError, match="holds no images"):
        open_source(f"file:{tmp_path}").start()
    with pytest.raises(SourceError, match="not found"):
        open_source(f"file:{tmp_path / 'nope.mp4'}").start()


def test_a_file_that_is_not_video_fails_with_a_clear_state(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 4096)
    source = open_source(f"file:{junk}").start()
    assert source.wait_state({SourceState.FAILED}, timeout=10)
    assert "cannot decode" in source.error
    assert source.read(timeout=0.5) is None and source.done
    source.stop()


def test_stop_interrupts_a_paced_source_promptly(level_clip):
    source = open_source(f"file:{level_clip}?loop=1").start()
    assert source.read(timeout=5) is not None
    started = time.monotonic()
    source.stop()
    assert time.monotonic() - started < 3
    assert source.state == SourceState.STOPPED


# --- devices that are not here -------------------------------------------------------------------

def test_usb_camera_that_is_absent_is_retried_not_fatal():
    source = open_source("usb:97").start()
    try:
        assert source.wait_state({SourceState.RECONNECTING}, timeout=10)
        assert "/dev/video97" in source.error
    finally:
        source.stop()


def test_picamera2_off_a_pi_is_one_clear_error():
    with pytest.raises(SourceError) as info:
        open_source("picamera2:").start()
    message = str(info.value)
    assert "\n" not in message and "python3-picamera2" in message
