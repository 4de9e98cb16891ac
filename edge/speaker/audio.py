"""WAV files in and out: reading, volume, repeats, and a check that something audible is there."""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Pcm:
    samples: np.ndarray  # int16, (n, channels)
    rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate


def read_wav(path: Path) -> Pcm:
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV is supported")
        data = np.frombuffer(w.readframes(w.getnframes()), np.int16).reshape(-1, w.getnchannels())
        return Pcm(data, w.getframerate())


def prepare(pcm: Pcm, volume: float, repeat: int, gap_s: float = 0.8) -> Pcm:
    """The clip at `volume` (0..1), `repeat` times with a pause between."""
    scaled = np.clip(pcm.samples.astype(np.float32) * volume, -32768, 32767).astype(np.int16)
    gap = np.zeros((int(gap_s * pcm.rate), pcm.samples.shape[1]), np.int16)
    parts = []
    for i in range(repeat):
        if i:
            parts.append(gap)
        parts.append(scaled)
    return Pcm(np.concatenate(parts), pcm.rate)


def wav_bytes(pcm: Pcm) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(pcm.samples.shape[1])
        w.setsampwidth(2)
        w.setframerate(pcm.rate)
        w.writeframes(pcm.samples.tobytes())
    return out.getvalue()


def loudness_dbfs(pcm: Pcm) -> float:
    """RMS level in dB below full scale; silence is -inf."""
    if len(pcm.samples) == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(pcm.samples.astype(np.float64) ** 2)))
    return 20 * np.log10(rms / 32768) if rms > 0 else float("-inf")
