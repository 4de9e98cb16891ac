"""ONNX export in the YOLOv8 layout, checked against torch with onnxruntime, plus the model folder.

Why the legacy (TorchScript) exporter: it needs no extra packages and gives a plain static opset-17
graph (input `images` [1,3,320,320], output `output0` [1, 4+C, N]) that onnxruntime on a Pi runs as is.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from datetime import date
from pathlib import Path

import numpy as np
import onnx
import torch

from models.train.model import Detector, Export, count_gflops, count_params, fuse
from simulator import CLASSES


def export_onnx(model: Detector, path: str | Path, size: int = 320, check: bool = True) -> dict:
    """Fuse BN, export, and compare onnxruntime's output with torch's on a random image."""
    import copy

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    m = Export(fuse(copy.deepcopy(model).eval()), size).eval()
    x = torch.rand(1, 3, size, size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (x,), str(path), dynamo=False, opset_version=17, input_names=["images"],
                          output_names=["output0"], do_constant_folding=True)
    onnx.checker.check_model(onnx.load(str(path)))
    info = {"output_shape": None, "max_abs_diff": None}
    if check:
        import onnxruntime as ort

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = sess.run(None, {"images": x.numpy()})[0]
        with torch.no_grad():
            ref = Export(model.eval(), size)(x).numpy()  # un-fused reference
        info["output_shape"] = list(got.shape)
        info["max_abs_diff"] = float(np.abs(got - ref).max())
        if got.shape != (1, 4 + len(CLASSES), ref.shape[2]) or not np.allclose(got, ref, atol=1e-2, rtol=1e-3):
            raise RuntimeError(f"ONNX output differs from torch: shape {got.shape}, diff {info['max_abs_diff']}")
    return info


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_model_folder(model: Detector, folder: str | Path, training: dict, metrics: dict, size: int = 320) -> dict:
    """models/<name>/: model.onnx, labels.txt and manifest.json (the runtime's contract)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    onnx_path = folder / "model.onnx"
    check = export_onnx(model, onnx_path, size)
    (folder / "labels.txt").write_text("\n".join(CLASSES) + "\n")
    train_info = {"tool": "python -m models.train (models/train/)",
                  "params": count_params(model), "gflops": round(count_gflops(model, size), 3),
                  "trained_on": date.today().isoformat(), **training,
                  "export_check": check}
    manifest = {
        "name": "edge-default", "version": "1", "file": "model.onnx", "sha256": sha256(onnx_path),
        "input": {"name": "images", "width": size, "height": size, "color": "RGB", "scale": 1 / 255,
                  "letterbox": {"pad_value": 114, "center": True}},
        "output": {"layout": "yolov8"},
        "classes": list(CLASSES),
        "training": train_info,
        "metrics": metrics,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
