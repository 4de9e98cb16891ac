"""ONNX detector: YOLO-family, RT-DETR and SSD exports, the reference's NMS, rule-class mapping."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .decode import NEEDS_NMS, LayoutError, check_layout, decode, detect_layout
from .detections import Detections
from .letterbox import InputTensor
from .model import ModelError, load_model_folder

Box = tuple[int, int, int, int]


def class_mapping(labels: Sequence[str], classes: Sequence[str], class_map: Mapping[str, str] | str) -> np.ndarray:
    """Model label index -> rule class index, or -1 for labels the rules do not use.

    A label maps through `class_map` (e.g. Objects365 "Fishing Rod" -> "fishing_rod"), or to the rule
    class of the same name.  Several labels may map onto one class ("Car", "SUV" -> "vehicle").
    """
    from ..config.detect import resolve_class_map

    class_map = resolve_class_map(class_map, tuple(labels), tuple(classes))  # type: ignore[arg-type]
    unknown = [k for k in class_map if k not in labels]
    if unknown:
        raise ModelError(f"class_map names {', '.join(map(repr, unknown))}, not labels of the model "
                         f"(labels: {', '.join(labels[:12])}{', ...' if len(labels) > 12 else ''})")
    bad = [v for v in class_map.values() if v not in classes]
    if bad:
        raise ModelError(f"class_map maps onto {', '.join(map(repr, bad))}, not rule classes ({', '.join(classes)})")
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index.get(class_map.get(label, label), -1) for label in labels], np.int32)


def nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou_threshold: float,
        max_detections: int) -> np.ndarray:
    """Indices of the boxes kept by class-aware non-maximum suppression, best first.

    The semantics of torchvision's nms as Ultralytics' predict uses it: every candidate takes part
    (no cut before suppression), a box goes when its IoU with a better one of its class is above the
    threshold, and only the *kept* boxes are capped at `max_detections`.
    """
    n = len(scores)
    if n == 0:
        return np.zeros(0, np.int64)
    order = np.argsort(-scores, kind="stable")
    b = boxes.astype(np.float64)[order]
    # Shift each class far apart, so one pass suppresses within classes only.
    shift = (np.abs(b).max() * 2 + 1) * class_ids[order].astype(np.float64)
    b = b + shift[:, None]
    x1, y1, x2, y2 = b[:, 0], b[:, 1], b[:, 2], b[:, 3]
    area = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    rest = np.arange(n)
    keep: list[int] = []
    while rest.size and len(keep) < max_detections:
        i, rest = rest[0], rest[1:]
        keep.append(i)
        iw = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        ih = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = iw * ih
        iou = inter / np.maximum(area[i] + area[rest] - inter, 1e-12)
        rest = rest[iou <= iou_threshold]
    return order[np.asarray(keep, np.int64)]


class Detector:
    """One ONNX model behind the node's own pre- and post-processing.

    Post-processing follows the reference (Ultralytics' predict): decode, suppress duplicates in the
    model's own classes when the layout needs it (never again for NMS-free outputs), cap the kept
    boxes, map back to the picture, and clip last.  Boxes are merged once more by rule class only
    where the node itself makes duplicates: several motion regions, or several labels mapped onto one
    rule class ("car" and "truck" both "vehicle").
    """

    def __init__(self, model_dir: str | Path, *, classes: Sequence[str] | None = None,
                 class_map: Mapping[str, str] | str | None = None, score_threshold: float = 0.3,
                 iou_threshold: float = 0.45, max_detections: int = 300, threads: int | None = None):
        import onnxruntime as ort

        self.model = load_model_folder(model_dir)
        manifest = self.model.manifest
        self.labels = manifest.classes
        self.classes = tuple(classes) if classes is not None else self.labels
        self._map = class_mapping(self.labels, self.classes, class_map or {})
        mapped = self._map[self._map >= 0]
        self._many_to_one = len(mapped) != len(set(mapped.tolist()))
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.max_detections = max_detections
        spec = manifest.input
        self.input_size = (spec.width, spec.height)
        self._input = InputTensor(spec.width, spec.height, pad_value=spec.letterbox.pad_value,
                                  center=spec.letterbox.center, scale=spec.scale, rgb=spec.color == "RGB",
                                  nhwc=spec.tensor == "NHWC", dtype=spec.dtype, stretch=spec.resize == "stretch")

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(self.model.onnx_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"{self.model.onnx_path}: onnxruntime cannot load it: {str(exc).splitlines()[0]}") from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ModelError(f"{self.model.onnx_path}: expected one input, the model has {len(inputs)}")
        self._input_name = inputs[0].name
        check_input_shape(self.model.onnx_path, inputs[0].shape, spec)
        self._outputs = output_order(self.model.onnx_path, [o.name for o in self.session.get_outputs()],
                                     manifest.output)
        # One warm-up inference: the output layout is settled here, at start-up, never mid-run.
        raw = self._infer(np.zeros_like(self._input.tensor))
        shapes = [r.shape for r in raw]
        try:
            if manifest.output.layout == "auto":
                self.layout = detect_layout(shapes, len(self.labels))
            else:
                self.layout = check_layout(manifest.output.layout, shapes, len(self.labels))
        except LayoutError as exc:
            raise ModelError(f"{self.model.onnx_path}: {exc}") from None
        if self.layout == "ssd" and manifest.output.ssd is None:
            raise ModelError(f"{self.model.onnx_path}: an ssd layout needs output.ssd in the manifest "
                             "(which output is boxes, scores, classes, count); make it with `edge-node model import`")
        self.nms = manifest.output.nms if manifest.output.nms is not None else self.layout in NEEDS_NMS
        self._label_offset = manifest.output.label_offset
        self.last_inference_ms = 0.0

    def _infer(self, tensor: np.ndarray) -> list[np.ndarray]:
        raw = self.session.run(self._outputs, {self._input_name: tensor})
        return raw

    def preprocess(self, image: np.ndarray):
        """(model input tensor of its own, Letterbox) for `image`."""
        lb = self._input.fill(image)
        return self._input.tensor.copy(), lb

    def _detect_one(self, image: np.ndarray, offset: tuple[int, int] = (0, 0)):
        lb = self._input.fill(image)
        started = time.perf_counter()
        raw = self._infer(self._input.tensor)
        self.last_inference_ms += (time.perf_counter() - started) * 1000
        cand = decode(raw, self.layout, len(self.labels), self.score_threshold, input_size=self.input_size,
                      label_offset=self._label_offset)
        rule_ids = self._map[cand.class_ids] if len(cand.class_ids) else cand.class_ids
        keep = np.flatnonzero(rule_ids >= 0)
        if self.nms:  # in the model's own classes, as the reference does
            keep = keep[nms(cand.boxes[keep], cand.scores[keep], cand.class_ids[keep], self.iou_threshold,
                            self.max_detections)]
        boxes = lb.to_source(cand.boxes[keep])
        if offset != (0, 0):
            boxes += np.array([offset[0], offset[1], offset[0], offset[1]], np.float32)
        return boxes, cand.scores[keep].astype(np.float32), rule_ids[keep]

    def detect(self, image: np.ndarray, regions: Sequence[Box] | None = None) -> Detections:
        """Detect on the whole picture, or on each region (x1, y1, x2, y2) resized to the model input."""
        self.last_inference_ms = 0.0
        h, w = image.shape[:2]
        if regions is None:
            parts = [self._detect_one(image)]
        else:
            parts = [self._detect_one(image[y1:y2, x1:x2], (x1, y1)) for x1, y1, x2, y2 in regions]
        coverage = None if regions is None else tuple(tuple(int(v) for v in r) for r in regions)
        if not parts:
            return Detections.empty(self.classes, coverage)
        if len(parts) == 1:
            boxes, scores, ids = parts[0][0].reshape(-1, 4), parts[0][1], parts[0][2].astype(np.int32, copy=False)
        else:
            boxes = np.concatenate([p[0] for p in parts]).reshape(-1, 4)
            scores = np.concatenate([p[1] for p in parts])
            ids = np.concatenate([p[2] for p in parts]).astype(np.int32)
        if len(parts) > 1 or self._many_to_one:
            # Duplicates the node made itself: overlapping regions, or labels merged into one class.
            keep = nms(boxes, scores, ids, self.iou_threshold, self.max_detections)
        else:
            keep = np.argsort(-scores, kind="stable")[:self.max_detections]
        boxes = boxes[keep].astype(np.float32)
        np.clip(boxes, 0, np.array([w, h, w, h], np.float32), out=boxes)  # after NMS, as the reference does
        return Detections(boxes, scores[keep], ids[keep], self.classes, coverage)


def check_input_shape(path: Path, shape: Sequence, spec) -> None:
    """The session's input must be the tensor the manifest describes (dynamic axes take its size)."""
    channels, hw = (1, (2, 3)) if spec.tensor == "NCHW" else (3, (1, 2))
    if len(shape) != 4 or (isinstance(shape[channels], int) and shape[channels] != 3):
        want = "(1, 3, H, W)" if spec.tensor == "NCHW" else "(1, H, W, 3)"
        raise ModelError(f"{path}: input shape {shape} is not {want} as the manifest's input.tensor says")
    for axis, want in zip(hw, (spec.height, spec.width), strict=True):
        if isinstance(shape[axis], int) and shape[axis] != want:
            raise ModelError(f"{path}: input is {shape[hw[0]]}x{shape[hw[1]]} (HxW), "
                             f"the manifest says {spec.height}x{spec.width}")


def output_order(path: Path, names: list[str], output) -> list[str]:
    """The output names to fetch, in the order the decoder reads them."""
    if output.ssd is None:
        return names
    wanted = [output.ssd.boxes, output.ssd.scores, output.ssd.classes]
    if output.ssd.count:
        wanted.append(output.ssd.count)
    missing = [n for n in wanted if n not in names]
    if missing:
        raise ModelError(f"{path}: the manifest's output.ssd names {', '.join(missing)}, "
                         f"not outputs of the model ({', '.join(names)})")
    return wanted
