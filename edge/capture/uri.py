"""Frame source URIs: `sim:PATH.toml`, `file:PATH`, `usb:INDEX`, `rtsp://...`, `picamera2:`.

Options ride along as a query string, e.g. `file:clip.mp4?loop=1&realtime=0`.  `${VAR}` in a URI
is filled from the environment when the source opens, so camera passwords stay out of profiles.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit, urlunsplit

SCHEMES = ("sim", "file", "usb", "rtsp", "rtsps", "picamera2")
#: schemes whose source is a plugin (edge.capture.registry): the simulator registers `sim`
PLUGIN_SCHEMES = ("sim",)
OPTION_KEYS = {"loop", "realtime"}
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class SourceUriError(ValueError):
    """A source URI that cannot name a frame source."""


@dataclass(frozen=True)
class SourceSpec:
    scheme: str
    target: str  # path for sim/file, device index for usb, full URL for rtsp, "" for picamera2
    options: dict[str, bool] = field(default_factory=dict)

    @property
    def is_path(self) -> bool:
        return self.scheme in ("sim", "file")


def _parse_bool(key: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SourceUriError(f"option {key}={value!r} is not a boolean (use 1 or 0)")


def parse_source_uri(uri: str) -> SourceSpec:
    uri = uri.strip()
    if not uri:
        raise SourceUriError("empty source URI")
    scheme, sep, rest = uri.partition(":")
    scheme = scheme.lower()
    if not sep or scheme not in SCHEMES:
        raise SourceUriError(
            f"unknown source '{uri}' (expected sim:PATH.toml, file:PATH, usb:INDEX, rtsp://HOST/PATH or picamera2:)"
        )
    if scheme in ("rtsp", "rtsps"):
        parts = urlsplit(uri)
        if not parts.hostname:
            raise SourceUriError(f"'{redact_uri(uri)}' has no host")
        if parts.password and not _ENV.fullmatch(parts.password):
            raise SourceUriError(
                "the RTSP password is inline; write it as ${VARIABLE} and set that environment variable"
            )
        return SourceSpec(scheme, uri)
    body, _, query = rest.partition("?")
    options: dict[str, bool] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in OPTION_KEYS:
            raise SourceUriError(f"unknown option '{key}' (known: {', '.join(sorted(OPTION_KEYS))})")
        options[key] = _parse_bool(key, value)
    if scheme == "usb":
        if not body.isdigit():
            raise SourceUriError(f"usb source needs a device index such as usb:0, got '{uri}'")
        return SourceSpec(scheme, body, options)
    if scheme == "picamera2":
        if body:
            raise SourceUriError(f"picamera2 takes no path, got '{uri}'")
        return SourceSpec(scheme, "", options)
    if not body:
        raise SourceUriError(f"{scheme}: source needs a path, e.g. {scheme}:PATH")
    if scheme == "sim" and not body.endswith(".toml"):
        raise SourceUriError(f"sim source needs a scenario .toml file, got '{body}'")
    return SourceSpec(scheme, body, options)


def expand_env(uri: str) -> str:
    """Fill `${VAR}` placeholders from the environment; a missing variable is an error."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise SourceUriError(f"environment variable {name} (used in the source URI) is not set")
        return os.environ[name]

    return _ENV.sub(fill, uri)


def redact_uri(uri: str) -> str:
    """The URI with any password replaced by ***, for logs and errors."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else host
    return urlunsplit(parts._replace(netloc=netloc))
