"""The clip library (firmware_config/audio/manifest.toml) and offline text-to-speech with espeak-ng."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .audio import read_wav


class SpeakError(Exception):
    """A clip or text that cannot be played; one line."""


@dataclass(frozen=True)
class Clip:
    id: str
    path: Path
    text: str
    kinds: tuple[str, ...]


class ClipLibrary:
    def __init__(self, folder: Path):
        self.folder = folder
        manifest = folder / "manifest.toml"
        try:
            data = tomllib.loads(manifest.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SpeakError(f"{manifest}: the clip library has no manifest") from None
        except tomllib.TOMLDecodeError as exc:
            raise SpeakError(f"{manifest}: {exc}") from None
        self.voice = data.get("voice", "cmn")
        self.speed = int(data.get("speed", 150))
        self.clips = {c["id"]: Clip(c["id"], folder / c["file"], c.get("text", ""), tuple(c.get("kinds", ())))
                      for c in data.get("clips", [])}
        for clip in self.clips.values():
            if not clip.path.is_file():
                raise SpeakError(f"{clip.path}: clip {clip.id!r} is missing")
            read_wav(clip.path)  # readable, 16-bit PCM

    def get(self, clip_id: str) -> Clip:
        try:
            return self.clips[clip_id]
        except KeyError:
            raise SpeakError(f"unknown clip {clip_id!r} (clips: {', '.join(sorted(self.clips))})") from None

    def for_kind(self, kind: str) -> Clip | None:
        return next((c for c in self.clips.values() if kind in c.kinds), None)


class Tts:
    """Renders free text with espeak-ng, offline, and keeps what it rendered."""

    MAX_CHARS = 200

    def __init__(self, cache: Path, voice: str = "cmn", speed: int = 150):
        self.cache = cache
        self.voice = voice
        self.speed = speed
        self.binary = shutil.which("espeak-ng")

    def render(self, text: str) -> Path:
        text = " ".join(text.split())
        if not text:
            raise SpeakError("empty text")
        if len(text) > self.MAX_CHARS:
            raise SpeakError(f"text longer than {self.MAX_CHARS} characters")
        if self.binary is None:
            raise SpeakError("text-to-speech needs espeak-ng (apt install espeak-ng)")
        key = hashlib.sha256(f"{self.voice}|{self.speed}|{text}".encode()).hexdigest()[:32]
        target = self.cache / f"{key}.wav"
        if target.exists():
            return target
        self.cache.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        try:
            subprocess.run([self.binary, "-v", self.voice, "-s", str(self.speed), "-w", str(tmp), "--", text],
                           check=True, capture_output=True, timeout=30)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            tmp.unlink(missing_ok=True)
            raise SpeakError(f"espeak-ng failed: {exc}") from None
        tmp.replace(target)
        return target
