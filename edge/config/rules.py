"""[[rules]]: what counts as a violation, where, and for how long."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, NonNegativeFloat, PositiveFloat, ValidationInfo, field_validator

from .base import Section

RuleKind = Literal["fishing", "boat_intrusion", "stall", "parking", "intrusion", "camera_tamper"]
_HOURS = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)")
_DATES = re.compile(r"(\d\d)-(\d\d)\.\.(\d\d)-(\d\d)")
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class ScheduleConfig(Section):
    """When a rule is armed, in the node's time zone.  Every listed condition must hold."""

    # Daily windows "HH:MM-HH:MM"; an end before the start runs past midnight ("19:00-06:00").
    hours: tuple[str, ...] = ()
    # Seasons "MM-DD..MM-DD", inclusive; may run over new year ("11-15..02-15").
    dates: tuple[str, ...] = ()
    weekdays: tuple[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], ...] = ()

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            m = _HOURS.fullmatch(item)
            if not m or (m.group(3) == "24" and m.group(4) != "00"):
                raise ValueError(f"'{item}' is not a daily window HH:MM-HH:MM (24:00 allowed as an end)")
            if item[:5] == item[6:]:
                raise ValueError(f"'{item}' is empty; for all day write 00:00-24:00")
        return value

    @field_validator("dates")
    @classmethod
    def _dates(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            m = _DATES.fullmatch(item)
            if not m:
                raise ValueError(f"'{item}' is not a season MM-DD..MM-DD")
            for month, day in ((int(m.group(1)), int(m.group(2))), (int(m.group(3)), int(m.group(4)))):
                if not (1 <= month <= 12 and 1 <= day <= _DAYS_IN_MONTH[month - 1]):
                    raise ValueError(f"'{item}': {month:02d}-{day:02d} is not a date")
        return value


class RuleConfig(Section):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    kind: RuleKind
    # The zones it watches; a camera_tamper rule watches the whole picture and names none.
    zones: tuple[str, ...] = Field(default=(), validate_default=True)
    # Classes the rule looks at; empty means the kind's usual classes.  For `fishing` the first is
    # the person class and the rest are fishing gear.
    classes: tuple[str, ...] = ()
    # The tiers: the situation lasts dwell_s -> warning (loudspeaker); still there recheck_s later
    # -> alert for the hub (and evidence); objects gone for clear_after_s -> cleared.
    dwell_s: NonNegativeFloat = 0.0
    recheck_s: NonNegativeFloat = 30.0
    clear_after_s: PositiveFloat = 10.0
    # No second automatic warning from this rule in the same zone within this time.
    cooldown_s: NonNegativeFloat = 120.0
    # The loudspeaker clip for the warning (an id in the clip library); default: the kind's clip.
    warning_clip: str | None = None
    # When the rule is armed; none means always.
    schedule: ScheduleConfig | None = None
    enabled: bool = True
    # fishing only: what the evidence is.  "rod": a person with fishing gear at hand (the default);
    # "loitering": a person standing still in the zone for dwell_s, for models with no rod class
    # (COCO, person-only).  Lifecycle messages carry it as `basis` (see basis_of).
    basis: Literal["rod", "loitering"] | None = None

    @field_validator("zones")
    @classmethod
    def _zones_for_kind(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        kind = info.data.get("kind")
        if kind == "camera_tamper" and value:
            raise ValueError("a camera_tamper rule watches the whole picture; give it no zones")
        if kind != "camera_tamper" and not value:
            raise ValueError("needs at least one zone")
        return value

    @field_validator("basis")
    @classmethod
    def _basis(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("kind") != "fishing":
            raise ValueError("basis applies to fishing rules only")
        return value


BASIS_MEANING = {
    "rod": "a person with fishing gear at hand in the zone",
    "loitering": "a person standing still in the zone for the dwell time (no rod class needed)",
    "stationary": "the object standing still in the zone",
    "presence": "the object in the zone",
}


def basis_of(rule: RuleConfig) -> str:
    """What a rule's violations rest on, as lifecycle messages state it (`basis`)."""
    if rule.kind == "fishing":
        return rule.basis or "rod"
    return "stationary" if rule.kind in ("stall", "parking") else "presence"


def basis_lines(profile) -> list[str]:
    """One line per fishing rule: which basis it runs on (what `check-config` prints)."""
    return [f"rules.{r.name}: fishing on the {basis_of(r)!r} basis: {BASIS_MEANING[basis_of(r)]}"
            for r in profile.rules if r.kind == "fishing"]
