"""Loudspeaker warnings: clip library, offline text-to-speech, a prioritised player."""

from .library import ClipLibrary, SpeakError, Tts
from .sinks import AlsaSink, FileSink, NullSink
from .speaker import Speaker

__all__ = ["AlsaSink", "ClipLibrary", "FileSink", "NullSink", "SpeakError", "Speaker", "Tts"]
