"""Frames worth labelling, captured on the node with the current model's detections as pre-labels."""

from .capture import DatasetCapture
from .pack import make_pack

__all__ = ["DatasetCapture", "make_pack"]
