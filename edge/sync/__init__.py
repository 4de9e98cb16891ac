"""Body-worn recorder dock: ingest with a chain of custody, upload, and clean up after the hub."""

from .dock import Dock, Unplugged
from .recorder import RecorderId, identify

__all__ = ["Dock", "RecorderId", "Unplugged", "identify"]
