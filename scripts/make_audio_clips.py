#!/usr/bin/env python3
"""Regenerate the loudspeaker clips in firmware_config/audio/ from manifest.toml with espeak-ng.

Offline: espeak-ng's Mandarin voice (apt install espeak-ng).  Usage: python scripts/make_audio_clips.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

AUDIO = Path(__file__).resolve().parents[1] / "firmware_config" / "audio"


def main() -> int:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        print("make_audio_clips: espeak-ng is not installed (apt install espeak-ng)", file=sys.stderr)
        return 2
    library = tomllib.loads((AUDIO / "manifest.toml").read_text(encoding="utf-8"))
    for clip in library["clips"]:
        target = AUDIO / clip["file"]
        subprocess.run([espeak, "-v", library["voice"], "-s", str(library["speed"]), "-w", str(target), clip["text"]],
                       check=True)
        print(f"{target.name}: {clip['text']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
