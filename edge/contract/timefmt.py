"""The one time-stamp format on the wire: RFC 3339 with milliseconds and a `+hh:mm` offset.

Every `ts`, `*_at` and `issued_at` a node or the hub writes goes through `iso()`, so an alert and
the stats of the same node never disagree on the shape of a time (`+08:00`, never `+0800`).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, tzinfo

#: What a consumer may rely on (the JSON Schemas carry it): date, time, optional fraction, offset or Z.
TIME_PATTERN = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)$"


def iso(wall: float, tz: tzinfo | None = None) -> str:
    """`wall` (seconds since the epoch) in `tz`, or in the machine's local zone when None."""
    moment = datetime.fromtimestamp(wall, tz) if tz is not None else datetime.fromtimestamp(wall).astimezone()
    return moment.isoformat(timespec="milliseconds")


def now_iso(tz: tzinfo | None = None) -> str:
    """Now, in `tz` or the local zone."""
    return iso(time.time(), tz)


def utc_now_iso() -> str:
    """Now in UTC (the hub's own messages)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def parse(value: str) -> datetime:
    """A wire time back to an aware datetime; ValueError if it has no offset."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset")
    return moment
