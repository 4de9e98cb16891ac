"""Small ONNX graphs with known outputs, built with the onnx helper API, packaged as model folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edge.detect.model import sha256_file


def constant_model(path: Path, output: np.ndarray, input_hw: tuple[int, int] = (320, 320)) -> Path:
    """A model whose output is always `output`, whatever the image (the image still flows through it)."""
    h, w = input_hw
    out = output.astype(np.float32)
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
        helper.make_node("Add", ["table", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes, "constant_yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, h, w])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(out.shape))],
        initializer=[numpy_helper.from_array(out, "table"), numpy_helper.from_array(np.array(0, np.float32), "zero")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def model_folder(folder: Path, output: np.ndarray, classes: list[str], *, input_hw=(320, 320),
                 layout: str = "auto", color: str = "RGB") -> Path:
    onnx_path = constant_model(folder / "model.onnx", output, input_hw)
    manifest = {
        "name": "test", "version": "1", "file": "model.onnx", "sha256": sha256_file(onnx_path),
        "input": {"name": "images", "width": input_hw[1], "height": input_hw[0], "color": color,
                  "scale": 1 / 255, "letterbox": {"pad_value": 114, "center": True}},
        "output": {"layout": layout}, "classes": classes,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "labels.txt").write_text("\n".join(classes) + "\n")
    return folder


def yolov8_output(rows: list[tuple[float, float, float, float, int, float]], num_classes: int,
                  n: int = 64) -> np.ndarray:
    """(1, 4+C, N): each row is cx, cy, w, h, class, score; the other anchors score nothing."""
    out = np.zeros((1, 4 + num_classes, n), np.float32)
    for i, (cx, cy, w, h, cls, score) in enumerate(rows):
        out[0, :4, i] = (cx, cy, w, h)
        out[0, 4 + cls, i] = score
    return out


def yolov5_output(rows: list[tuple[float, float, float, float, float, int, float]], num_classes: int,
                  n: int = 64) -> np.ndarray:
    """(1, N, 5+C): each row is cx, cy, w, h, objectness, class, class probability."""
    out = np.zeros((1, n, 5 + num_classes), np.float32)
    for i, (cx, cy, w, h, obj, cls, p) in enumerate(rows):
        out[0, i, :5] = (cx, cy, w, h, obj)
        out[0, i, 5 + cls] = p
    return out


def end2end_output(rows: list[tuple[float, float, float, float, float, int]], k: int = 300) -> np.ndarray:
    """(1, K, 6): each row is x1, y1, x2, y2, score, class."""
    out = np.zeros((1, k, 6), np.float32)
    for i, row in enumerate(rows):
        out[0, i] = row
    return out


def brightness_model(folder: Path, rows: list[tuple[float, float, float, float, int, float]], classes: list[str],
                     input_hw: tuple[int, int] = (320, 320)) -> Path:
    """A yolov8-layout model whose boxes are fixed but whose scores scale with the picture's brightness:
    a bright frame detects the objects, a dark one detects nothing."""
    h, w = input_hw
    table = yolov8_output(rows, len(classes))
    boxes = table.copy()
    boxes[0, 4:, :] = 0.0
    scores = table.copy()
    scores[0, :4, :] = 0.0
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["scores", "mean"], ["scaled"]),
        helper.make_node("Add", ["boxes", "scaled"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes, "brightness_yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, h, w])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(table.shape))],
        initializer=[numpy_helper.from_array(boxes, "boxes"), numpy_helper.from_array(scores, "scores")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "model.onnx"))
    manifest = {
        "name": "brightness", "version": "1", "file": "model.onnx", "sha256": sha256_file(folder / "model.onnx"),
        "input": {"name": "images", "width": w, "height": h}, "output": {"layout": "yolov8"}, "classes": classes,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "labels.txt").write_text("\n".join(classes) + "\n")
    return folder


def exported_model(path: Path, outputs: dict[str, np.ndarray], *, input_shape=(1, 3, 320, 320),
                   input_type=TensorProto.FLOAT, input_name: str = "images",
                   metadata: dict[str, str] | None = None) -> Path:
    """An "export": constant outputs (named, in order), any input shape/type (symbolic dims as str), metadata."""
    nodes = [helper.make_node("Cast", [input_name], ["as_float"], to=TensorProto.FLOAT),
             helper.make_node("ReduceMean", ["as_float"], ["mean"], keepdims=0),
             helper.make_node("Mul", ["mean", "zero"], ["nothing"])]
    inits = [numpy_helper.from_array(np.array(0, np.float32), "zero")]
    outs = []
    for name, value in outputs.items():
        table = value.astype(np.float32)
        inits.append(numpy_helper.from_array(table, f"{name}_table"))
        nodes.append(helper.make_node("Add", [f"{name}_table", "nothing"], [name]))
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(table.shape)))
    graph = helper.make_graph(nodes, "export", [helper.make_tensor_value_info(input_name, input_type, list(input_shape))],
                              outs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def ultralytics_metadata(names: list[str], *, nms: bool | None = None, end2end: bool = False,
                         imgsz: tuple[int, int] = (320, 320), task: str = "detect",
                         description: str = "Ultralytics YOLOv8n model") -> dict[str, str]:
    """The metadata Ultralytics 8.4 writes into an ONNX export (Python reprs, as it writes them)."""
    return {"description": description, "author": "Ultralytics", "version": "8.4.190", "task": task,
            "stride": "32", "batch": "1", "imgsz": str(list(imgsz)), "end2end": str(end2end),
            "names": str(dict(enumerate(names))), "args": str({"batch": 1, "nms": nms, "dynamic": False})}
