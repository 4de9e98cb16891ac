"""Frame sources that live outside the node package, by URI scheme (the simulator's `sim:`).

The node must not depend on the simulator (a camera box installs without it), so the `sim:`
source registers itself: through the `edge.frame_sources` entry point of the installed
distribution, or, where the installed metadata predates that entry point (an older editable
install), through EDGE_FRAME_SOURCES="scheme=module:function[,...]", or in-process with
`register()`.  A factory is `factory(spec, config, *, loop, **common) -> FrameSource`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from importlib.metadata import entry_points

from .base import FrameSource, SourceError

GROUP = "edge.frame_sources"
ENV = "EDGE_FRAME_SOURCES"

Factory = Callable[..., FrameSource]
_registered: dict[str, Factory] = {}


def register(scheme: str, factory: Factory) -> None:
    _registered[scheme] = factory


def _from_env(scheme: str) -> str | None:
    for item in os.environ.get(ENV, "").split(","):
        name, sep, target = item.strip().partition("=")
        if sep and name.strip() == scheme:
            return target.strip()
    return None


def _load(target: str) -> Factory:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def factory_for(scheme: str) -> Factory:
    """The factory of a plugin scheme; SourceError (one line) when nothing provides it."""
    if scheme in _registered:
        return _registered[scheme]
    found = [ep for ep in entry_points(group=GROUP) if ep.name == scheme]
    target = found[0].value if found else _from_env(scheme)
    if target is None:
        raise SourceError(f"{scheme}: sources come from a plugin that is not installed here "
                          f"(the simulator provides sim:; a camera box runs file:, usb:, rtsp:// or picamera2:)")
    try:
        factory = _load(target)
    except (ImportError, AttributeError) as exc:
        raise SourceError(f"{scheme}: source plugin {target} cannot be loaded: {exc}") from None
    _registered[scheme] = factory
    return factory
