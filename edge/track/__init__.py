"""Multi-object tracking: stable ids, and whether each object stands still."""

from .tracker import Track, Tracker, TrackerConfig

__all__ = ["Track", "Tracker", "TrackerConfig"]
