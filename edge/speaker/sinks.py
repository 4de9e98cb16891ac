"""Where sound goes: the loudspeaker through ALSA, or WAV files (tests, boxes without a speaker)."""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from .audio import Pcm, wav_bytes

log = logging.getLogger("edge.speaker")


class SinkError(Exception):
    pass


def aplay_error(stderr: str, device: str) -> str:
    """One line from aplay's several (ALSA library lines first, aplay's own verdict last), with the
    fix when the box has no sound card: the file sink."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    verdict = lines[-1] if lines else "no message"
    no_card = any(s in stderr for s in ("cannot find card", "audio open error", "Unknown PCM", "No such device"))
    hint = (f"; no sound card for ALSA device {device!r}? `aplay -l` lists the cards; on a box without one "
            'set [speaker] sink = "file" (docs/speaker.md)') if no_card else ""
    return f"aplay failed: {verdict}{hint}"


class AlsaSink:
    """`aplay` on an ALSA device; interruptible."""

    name = "alsa"

    def __init__(self, device: str = "default"):
        self.device = device
        self.binary = shutil.which("aplay")

    @property
    def state(self) -> str:
        return "ok" if self.binary else "missing"

    def play(self, pcm: Pcm, stop: threading.Event, label: str = "speech") -> bool:
        """Play; True if it finished, False if `stop` interrupted it.  SinkError if it failed."""
        if self.binary is None:
            raise SinkError("aplay is not installed (apt install alsa-utils)")
        with tempfile.NamedTemporaryFile(suffix=".wav") as f:
            f.write(wav_bytes(pcm))
            f.flush()
            proc = subprocess.Popen([self.binary, "-q", "-D", self.device, f.name], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE)
            while proc.poll() is None:
                if stop.wait(0.05):
                    proc.terminate()
                    proc.wait(5)
                    return False
            if proc.returncode != 0:
                raise SinkError(aplay_error(proc.stderr.read().decode(errors="replace"), self.device))
        return True


class FileSink:
    """Writes what would be played as numbered WAV files; plays in real time unless told not to."""

    name = "file"

    def __init__(self, folder: Path, realtime: bool = True):
        self.folder = folder
        self.realtime = realtime
        self.count = 0
        self.state = "ok"

    def play(self, pcm: Pcm, stop: threading.Event, label: str = "speech") -> bool:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count += 1
        started = time.strftime("%Y%m%dT%H%M%S")
        target = self.folder / f"{self.count:04d}-{started}-{label}.wav"
        interrupted = False
        if self.realtime:  # take as long as the loudspeaker would, and stop where it would stop
            deadline = time.monotonic() + pcm.seconds
            while time.monotonic() < deadline:
                if stop.wait(min(0.05, max(0.0, deadline - time.monotonic()))):
                    played = pcm.seconds - (deadline - time.monotonic())
                    pcm = Pcm(pcm.samples[: int(max(0.0, played) * pcm.rate)], pcm.rate)
                    interrupted = True
                    break
        data = wav_bytes(pcm)
        if not _room_for(self.folder, len(data)):
            # A recording of what was played can wait; the evidence and the outbox on the same disk cannot.
            if self.state != "disk full":
                log.warning("speaker: %s is nearly full; what is played is no longer written", self.folder)
            self.state = "disk full"
            return not interrupted
        self.state = "ok"
        target.write_bytes(data)
        return not interrupted


#: The file sink writes nothing while less than this would stay free after the file.
FILE_SINK_FLOOR_BYTES = 4 * 1024 * 1024


def _room_for(folder: Path, size: int) -> bool:
    try:
        return shutil.disk_usage(folder).free - size >= FILE_SINK_FLOOR_BYTES
    except OSError:
        return False


class NullSink:
    name = "none"
    state = "missing"

    def play(self, pcm: Pcm, stop: threading.Event, label: str = "speech") -> bool:
        raise SinkError("no loudspeaker is configured on this node")
