"""The loudspeaker: the clip library, the file sink checked as audio, priorities, limits, and the
warnings and commands of a running node."""

from __future__ import annotations

import json
import subprocess
import time
import tomllib
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from edge.config.rules import ScheduleConfig
from edge.crypto import generate_keypair
from edge.link.commands import make_command
from edge.rules.schedule import Schedule
from edge.speaker import ClipLibrary, FileSink, Speaker, SpeakError, Tts
from edge.speaker.audio import loudness_dbfs, read_wav

from .broker import Broker, Subscriber
from .conftest import BIN, PROFILES, REPO, require_tool, run_cli
from .evidence_rig import evidence_node

AUDIO = PROFILES / "audio"


def test_every_clip_is_real_mandarin_speech_of_sensible_length():
    manifest = tomllib.loads((AUDIO / "manifest.toml").read_text())
    library = ClipLibrary(AUDIO)
    kinds = {k for c in library.clips.values() for k in c.kinds}
    assert {"fishing", "boat_intrusion", "stall", "parking", "intrusion"} <= kinds
    for entry in manifest["clips"]:
        assert any("\u4e00" <= ch <= "\u9fff" for ch in entry["text"]), entry["text"]
        pcm = read_wav(AUDIO / entry["file"])
        assert pcm.rate >= 16000 and pcm.samples.shape[1] == 1
        assert 1.5 <= pcm.seconds <= 12, (entry["id"], pcm.seconds)
        assert loudness_dbfs(pcm) > -35, f"{entry['id']} is (nearly) silent"
        voiced = np.abs(pcm.samples[:, 0].astype(int)) > 1000
        assert voiced.mean() > 0.2, "speech, not a click"


def make_speaker(tmp_path, *, realtime=False, **kwargs) -> tuple[Speaker, FileSink]:
    sink = FileSink(tmp_path / "out", realtime=realtime)
    return Speaker(sink, ClipLibrary(AUDIO), Tts(tmp_path / "tts"), **kwargs), sink


def wait(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_file_sink_output_is_the_clip_at_the_volume_and_repeats_asked(tmp_path):
    speaker, sink = make_speaker(tmp_path)
    results = []
    speaker.speak(clip="no_fishing", volume=1.0, repeat=1, done=lambda ok, err: results.append((ok, err)))
    speaker.speak(clip="no_fishing", volume=0.5, repeat=2, done=lambda ok, err: results.append((ok, err)))
    assert wait(lambda: len(results) == 2) and results == [(True, None), (True, None)]
    speaker.stop()
    once, twice = (read_wav(p) for p in sorted(sink.folder.glob("*.wav")))
    clip = read_wav(AUDIO / "no_fishing.wav")
    assert once.rate == clip.rate and once.seconds == pytest.approx(clip.seconds, abs=0.01)
    assert twice.seconds == pytest.approx(2 * clip.seconds + 0.8, abs=0.01)
    assert loudness_dbfs(once) - loudness_dbfs(twice) == pytest.approx(6.0, abs=0.6)  # half the amplitude


def test_a_hub_command_interrupts_an_automatic_warning(tmp_path):
    speaker, sink = make_speaker(tmp_path, realtime=True)
    assert speaker.warn("fishing", None, time.time()) is None
    time.sleep(0.8)  # the automatic warning is playing
    results = []
    speaker.speak(clip="cooperate", repeat=1, done=lambda ok, err: results.append((ok, err)))
    assert wait(lambda: results, timeout=30) and results == [(True, None)]
    speaker.stop()
    auto, hub = sorted(sink.folder.glob("*.wav"))
    assert "auto-no_fishing" in auto.name and "hub-cooperate" in hub.name
    full = 2 * read_wav(AUDIO / "no_fishing.wav").seconds + 0.8
    assert 0.5 < read_wav(auto).seconds < full / 2, "cut short"
    assert read_wav(hub).seconds == pytest.approx(read_wav(AUDIO / "cooperate.wav").seconds, abs=0.01)


def test_quiet_hours_silence_automatic_warnings_not_the_hub(tmp_path):
    quiet = Schedule.from_config(ScheduleConfig(hours=["22:00-07:00"]), "Asia/Shanghai")
    speaker, sink = make_speaker(tmp_path, quiet_hours=quiet)
    night = datetime(2026, 5, 1, 23, 30, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
    day = datetime(2026, 5, 1, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()
    assert speaker.warn("stall", None, night) == "quiet hours"
    assert speaker.warn("stall", None, day) is None
    done = []
    speaker.speak(clip="no_stall", repeat=1, done=lambda ok, err: done.append(ok))  # the hub may speak at night
    assert wait(lambda: done == [True])
    speaker.stop()
    assert len(list(sink.folder.glob("*.wav"))) == 2


def test_rate_limit_and_bounded_queue(tmp_path):
    speaker, sink = make_speaker(tmp_path, max_per_minute=3)
    results = []
    for _ in range(5):
        speaker.speak(clip="keep_out", repeat=1, done=lambda ok, err: results.append((ok, err)))
    assert wait(lambda: len(results) == 5)
    assert [ok for ok, _ in results].count(True) == 3
    assert all("rate limit" in err for ok, err in results if not ok)
    speaker.stop()
    slow, _ = make_speaker(tmp_path / "slow", realtime=True, queue_size=4)
    accepted = refused = 0
    for _ in range(20):
        try:
            slow.speak(clip="keep_out", repeat=1, done=lambda ok, err: None)
            accepted += 1
        except SpeakError as exc:
            assert "busy" in str(exc)
            refused += 1
    assert accepted <= 5 and refused >= 15
    slow.stop()


def test_free_text_is_spoken_offline_and_cached(tmp_path):
    require_tool("espeak-ng")
    tts = Tts(tmp_path / "tts")
    first = tts.render("请勿在此停留")
    mtime = first.stat().st_mtime_ns
    assert tts.render("请勿在此停留") == first and first.stat().st_mtime_ns == mtime
    pcm = read_wav(first)
    assert 0.8 < pcm.seconds < 6 and loudness_dbfs(pcm) > -35
    with pytest.raises(SpeakError, match="longer than"):
        tts.render("长" * 300)


# --- a running node ------------------------------------------------------------------------------

SPEAKER = """
[speaker]
sink = "file"
file_realtime = false
library = "{library}"
repeat = 1
"""


def test_one_automatic_warning_per_violation_within_the_cooldown(tmp_path):
    profile = evidence_node(tmp_path / "node")
    text = profile.read_text().replace("clear_after_s = 0.6", "clear_after_s = 0.6\ncooldown_s = 12")
    profile.write_text(text + SPEAKER.format(library=AUDIO))
    state = tmp_path / "node" / "state"
    run_cli("edge-node", "keys", "init", "--state-dir", str(state))
    result = run_cli("edge-node", "run", "--config", str(profile), "--state-dir", str(state), "--max-frames", "150")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in (state / "lifecycle.jsonl").read_text().splitlines()]
    warnings = [e for e in events if e["stage"] == "warning"]
    played = sorted((state / "speaker").glob("*.wav"))
    # a violation every 5 s of video for 30 s; with a 12 s cooldown the loudspeaker speaks every third one
    assert len(warnings) >= 5 and 2 <= len(played) <= 3 and len(played) < len(warnings)
    assert all("auto-no_fishing" in p.name for p in played)
    assert all(read_wav(p).seconds > 2 for p in played)


def test_hub_speak_plays_and_answers_when_done_and_a_flood_is_refused_not_queued(tmp_path):
    broker = Broker(tmp_path / "broker").start()
    profile = evidence_node(tmp_path / "node")
    text = profile.read_text().replace("[link]\nenabled = false\n",
                                       f'[link]\nhost = "127.0.0.1"\nport = {broker.port}\n')
    profile.write_text(text + SPEAKER.format(library=AUDIO).replace("file_realtime = false", "file_realtime = true"))
    state = tmp_path / "node" / "state"
    run_cli("edge-node", "keys", "init", "--state-dir", str(state))
    hub_key = generate_keypair(tmp_path / "hub.key", state / "keys" / "hub.pub")
    node = subprocess.Popen([str(BIN / "edge-node"), "run", "--config", str(profile), "--state-dir", str(state),
                             "--set", "capture.realtime=true", "--set", "capture.source=\"file:" +
                             str(tmp_path / "node" / "blink.mp4") + "?loop=1\""],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "node.log", "w"))  # noqa: SIM115 (the child process keeps it)
    hub = Subscriber(broker, ["edge/+/cmd_result"]).wait_ready()
    try:
        time.sleep(2.0)
        spoke = run_cli("edge-hub", "speak", "ev-node", "--clip", "cooperate", "--repeat", "1", "--key",
                        str(tmp_path / "hub.key"), "--broker", broker.address, "--timeout", "30")
        assert spoke.returncode == 0, spoke.stderr
        assert json.loads(spoke.stdout) == {**json.loads(spoke.stdout), "ok": True, "data": {"played": True}}
        clip_s = read_wav(AUDIO / "cooperate.wav").seconds
        played = [p for p in (state / "speaker").glob("*hub-cooperate.wav")]
        assert played and read_wav(played[0]).seconds == pytest.approx(clip_s, abs=0.05)

        flood = [make_command(hub_key, "ev-node", "speak", {"text": "请离开", "repeat": 1}) for _ in range(1000)]
        for cmd in flood:
            hub.client.publish("edge/ev-node/cmd/speak", json.dumps(cmd), qos=1)
        ping = make_command(hub_key, "ev-node", "ping")
        hub.client.publish("edge/ev-node/cmd/ping", json.dumps(ping), qos=1)

        def results():
            return {json.loads(p)["id"]: json.loads(p) for _, p, _ in hub.messages}
        assert hub.wait_for(lambda m: ping["id"] in results(), timeout=60), "the node answers during a flood"
        assert hub.wait_for(lambda m: all(c["id"] in results() for c in flood), timeout=120)
        answered = results()
        refused = [answered[c["id"]] for c in flood if not answered[c["id"]]["ok"]]
        reasons = {r["error"].split(":")[0] for r in refused}
        assert len(refused) >= 950 and reasons <= {"busy", "speaker busy", "rate limit"}, reasons
        assert sum(answered[c["id"]]["ok"] for c in flood) <= 10, "at most the per-minute limit played"
        node.terminate()
        assert node.wait(30) == 0
    finally:
        node.kill()
        hub.close()
        broker.stop()
