"""Conversion of real, permissively licensed detectors into node model folders (never needed on a node)."""
