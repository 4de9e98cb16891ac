"""Model folder tools behind `edge-node model info|bench|import`."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np

from .decode import LayoutError, detect_layout
from .model import Manifest, ModelError, load_model_folder, read_manifest, sha256_file, write_model_folder


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


def import_model(onnx_path: str | Path, labels_path: str | Path, out: str | Path, *, name: str | None = None,
                 layout: str = "auto", color: str = "RGB") -> Manifest:
    """Make a model folder from an ONNX export and a labels file (one name per line, or a data YAML's names)."""
    import onnxruntime as ort

    onnx_path, out = Path(onnx_path), Path(out)
    labels = read_labels(Path(labels_path))
    try:
        session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError(f"{onnx_path}: onnxruntime cannot load it: {str(exc).splitlines()[0]}") from None
    shape = session.get_inputs()[0].shape
    if len(shape) != 4 or not all(isinstance(v, int) for v in shape[2:]):
        raise ModelError(f"{onnx_path}: input shape {shape} has no fixed size; export it with a fixed imgsz")
    height, width = shape[2], shape[3]
    out_shape = session.run(None, {session.get_inputs()[0].name: np.zeros((1, 3, height, width), np.float32)})[0].shape
    try:
        found = detect_layout(out_shape, len(labels))
    except LayoutError as exc:
        raise ModelError(f"{onnx_path}: {exc}") from None
    manifest = Manifest(
        name=name or onnx_path.stem, file="model.onnx", sha256=sha256_file(onnx_path),
        input={"name": session.get_inputs()[0].name, "width": width, "height": height, "color": color},
        output={"layout": found if layout == "auto" else layout}, classes=tuple(labels),
        training={"source": f"imported from {onnx_path.name}"},
    )
    write_model_folder(out, onnx_path, manifest)
    load_model_folder(out)  # what was written must load
    return manifest


def read_labels(path: Path) -> list[str]:
    """labels.txt (one per line), or the `names:` of an Ultralytics data YAML (list or index map)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        names: list[str] = []
        inside = False
        for line in text.splitlines():
            if line.startswith("names:"):
                inside = True
                rest = line[len("names:"):].strip()
                if rest.startswith("["):
                    return [n.strip().strip("'\"") for n in rest.strip("[]").split(",") if n.strip()]
                continue
            if inside:
                if not line.startswith((" ", "\t", "-")):
                    break
                item = line.strip().lstrip("-").strip()
                if ":" in item and item.split(":", 1)[0].strip().isdigit():
                    item = item.split(":", 1)[1].strip()
                if item:
                    names.append(item.strip("'\""))
        if not names:
            raise ModelError(f"{path}: no `names:` list found")
        return names
    labels = [line.strip() for line in text.splitlines() if line.strip()]
    if not labels:
        raise ModelError(f"{path}: no labels")
    return labels
