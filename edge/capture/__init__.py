"""Frame sources: one interface, latest-frame semantics, monotonic and wall-clock timestamps."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Backoff, FrameSource, SourceError, SourceState
from .frame import Frame
from .uri import PLUGIN_SCHEMES, SourceUriError, parse_source_uri

if TYPE_CHECKING:
    from ..config.capture import CaptureConfig

__all__ = ["Frame", "FrameSource", "SourceError", "SourceState", "open_source"]


def open_source(uri: str, config: CaptureConfig | None = None, **kwargs) -> FrameSource:
    """Build (not start) the source a URI names; the URI's own options win over the config's."""
    from ..config.capture import CaptureConfig

    cfg = config or CaptureConfig(source=uri)
    try:
        spec = parse_source_uri(uri)
    except SourceUriError as exc:
        raise SourceError(str(exc)) from None
    loop = spec.options.get("loop", cfg.loop)
    # A live camera cannot wait for the consumer: it is always read in real time.
    realtime = spec.options.get("realtime", cfg.realtime) if spec.is_path else True
    backoff = Backoff(cfg.reconnect.initial_s, cfg.reconnect.max_s)
    common = {"realtime": realtime, "backoff": backoff, **kwargs}
    if spec.scheme == "file":
        from .file import FileSource

        return FileSource(spec.target, loop=loop, image_fps=cfg.fps, **common)
    if spec.scheme in PLUGIN_SCHEMES:
        from .registry import factory_for

        return factory_for(spec.scheme)(spec, cfg, loop=loop, **common)
    if spec.scheme == "usb":
        from .stream import UsbSource

        return UsbSource(int(spec.target), size=cfg.size, fps=cfg.fps, **common)
    if spec.scheme in ("rtsp", "rtsps"):
        from .stream import RtspSource

        return RtspSource(spec.target, transport=cfg.rtsp_transport, open_timeout_s=cfg.open_timeout_s,
                          read_timeout_s=cfg.read_timeout_s, **common)
    from .picam import Picamera2Source

    return Picamera2Source(size=cfg.size, lores_size=cfg.lores_size, fps=cfg.fps, **common)
