"""Model folder tools behind `edge-node model info|bench` (import: importer.py, eval: evaluate.py)."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np

from .model import Manifest, ModelError, load_model_folder, read_manifest


def model_info(folder: str | Path) -> tuple[Manifest, list[str]]:
    """The manifest, and problems found (an empty list when the model is intact)."""
    manifest = read_manifest(folder)
    try:
        load_model_folder(folder)
    except ModelError as exc:
        return manifest, [str(exc)]
    return manifest, []


def bench_model(folder: str | Path, runs: int = 50, threads: int | None = None,
                image: np.ndarray | None = None) -> dict:
    """Latency of one detection on this machine: pre-processing, inference and decoding."""
    from .detector import Detector

    detector = Detector(folder, threads=threads)
    w, h = detector.input_size
    frame = image if image is not None else np.random.default_rng(0).integers(0, 255, (720, 1280, 3), np.uint8)
    for _ in range(3):
        detector.detect(frame)
    total, infer = [], []
    for _ in range(runs):
        started = time.perf_counter()
        detector.detect(frame)
        total.append((time.perf_counter() - started) * 1000)
        infer.append(detector.last_inference_ms)
    return {
        "model": str(folder), "input": [w, h], "layout": detector.layout, "threads": threads or os.cpu_count(),
        "runs": runs, "frame": [frame.shape[1], frame.shape[0]],
        "inference_ms_median": round(statistics.median(infer), 2),
        "total_ms_median": round(statistics.median(total), 2),
        "total_ms_p90": round(sorted(total)[int(0.9 * (len(total) - 1))], 2),
        "fps": round(1000 / statistics.median(total), 1),
    }
