"""Enforcement rules: zones, schedules, rule kinds and the tiered violation lifecycle."""

from .engine import RuleEngine
from .lifecycle import LifecycleEvent, Violation
from .schedule import Schedule
from .sink import JsonlSink, read_events, tail_events
from .zones import Zone

__all__ = ["JsonlSink", "LifecycleEvent", "RuleEngine", "Schedule", "Violation", "Zone", "read_events", "tail_events"]
