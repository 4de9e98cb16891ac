"""A pydantic ValidationError as the one line this project shows everywhere: `field.path: why`."""

from __future__ import annotations


def field_error(exc, top: str = "(top level)") -> str:
    """`loc.of.the.first.error: its message` (`top` where the whole value is wrong)."""
    errors = exc.errors()
    if not errors:
        return f"{top}: invalid"
    e = errors[0]
    where = ".".join(str(p) for p in e.get("loc", ())) or top
    return f"{where}: {e.get('msg', 'invalid')}"
