"""[[rules]]: what counts as a violation, where, and for how long."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeFloat

from .base import Section

RuleKind = Literal["fishing", "boat_intrusion", "stall", "parking", "intrusion"]


class RuleConfig(Section):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    kind: RuleKind
    zones: tuple[str, ...] = Field(min_length=1)
    # Classes the rule looks at; empty means the kind's usual classes.
    classes: tuple[str, ...] = ()
    # How long the situation must last before it is a violation.
    dwell_s: NonNegativeFloat = 0.0
    enabled: bool = True
