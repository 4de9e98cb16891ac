"""[speaker]: the loudspeaker, its clip library and the limits on automatic warnings."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveInt, field_validator

from .base import Section
from .rules import ScheduleConfig

SHIPPED_LIBRARY = Path(__file__).resolve().parents[2] / "firmware_config" / "audio"


class SpeakerConfig(Section):
    enabled: bool = True
    # alsa: the loudspeaker (aplay); file: WAV files in out_dir instead (tests, boxes without one).
    sink: Literal["alsa", "file", "none"] = "alsa"
    device: str = "default"  # ALSA device, e.g. "plughw:1,0" for a USB amplifier
    out_dir: Path | None = None  # file sink; default {state_dir}/speaker
    file_realtime: bool = True  # file sink: take as long as the sound lasts, as a loudspeaker would
    # Clip library folder with manifest.toml (relative to the profile); default: the shipped
    # firmware_config/audio.
    library: Path | None = None
    volume: float = Field(default=0.8, ge=0, le=1)
    repeat: int = Field(default=2, ge=1, le=5)
    # Automatic warnings are silent in these daily windows; the hub's commands still play.
    quiet_hours: tuple[str, ...] = ()
    max_per_minute: PositiveInt = 10  # hard limit on plays, whoever asks
    queue: PositiveInt = 16  # plays waiting at most; more are refused
    tts_voice: str = "cmn"

    @field_validator("quiet_hours")
    @classmethod
    def _windows(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        ScheduleConfig(hours=value)
        return value
