"""ONNX detector: any YOLO-family export, letterboxed input, class-aware NMS, rule-class mapping."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from .decode import LayoutError, check_layout, decode, detect_layout
from .detections import Detections
from .letterbox import InputTensor
from .model import ModelError, load_model_folder

Box = tuple[int, int, int, int]


def class_mapping(labels: Sequence[str], classes: Sequence[str], class_map: Mapping[str, str]) -> np.ndarray:
    """Model label index -> rule class index, or -1 for labels the rules do not use.

    A label maps through `class_map` (e.g. Objects365 "Fishing Rod" -> "fishing_rod"), or to the rule
    class of the same name.  Several labels may map onto one class ("Car", "SUV" -> "vehicle").
    """
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
    """Indices of the boxes kept by class-aware non-maximum suppression, best first."""
    if len(scores) == 0:
        return np.zeros(0, np.int64)
    xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
    keep = cv2.dnn.NMSBoxesBatched(xywh.tolist(), scores.tolist(), class_ids.tolist(), 0.0, iou_threshold,
                                   top_k=max_detections)
    return np.asarray(keep, dtype=np.int64).reshape(-1)


class Detector:
    def __init__(self, model_dir: str | Path, *, classes: Sequence[str] | None = None,
                 class_map: Mapping[str, str] | None = None, score_threshold: float = 0.3,
                 iou_threshold: float = 0.45, max_detections: int = 300, threads: int | None = None):
        import onnxruntime as ort

        self.model = load_model_folder(model_dir)
        manifest = self.model.manifest
        self.labels = manifest.classes
        self.classes = tuple(classes) if classes is not None else self.labels
        self._map = class_mapping(self.labels, self.classes, class_map or {})
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.max_detections = max_detections
        spec = manifest.input
        self.input_size = (spec.width, spec.height)
        self._rgb = spec.color == "RGB"
        self._scale = spec.scale
        self._pad = spec.letterbox.pad_value
        self._center = spec.letterbox.center
        self._input = InputTensor(spec.width, spec.height, pad_value=self._pad, center=self._center,
                                  scale=self._scale, rgb=self._rgb)

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
        shape = inputs[0].shape
        if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
            raise ModelError(f"{self.model.onnx_path}: input shape {shape} is not (1, 3, H, W)")
        for axis, want in ((2, spec.height), (3, spec.width)):
            if isinstance(shape[axis], int) and shape[axis] != want:
                raise ModelError(f"{self.model.onnx_path}: input is {shape[2]}x{shape[3]} (HxW), "
                                 f"the manifest says {spec.height}x{spec.width}")
        # One warm-up inference: the output layout is settled here, at start-up, never mid-run.
        raw = self._infer(np.zeros((1, 3, spec.height, spec.width), np.float32))
        try:
            if manifest.output.layout == "auto":
                self.layout = detect_layout(raw.shape, len(self.labels))
            else:
                self.layout = check_layout(manifest.output.layout, raw.shape, len(self.labels))
        except LayoutError as exc:
            raise ModelError(f"{self.model.onnx_path}: {exc}") from None
        self.last_inference_ms = 0.0

    def _infer(self, tensor: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self._input_name: tensor})[0]

    def preprocess(self, image: np.ndarray):
        """(model input tensor of its own, Letterbox) for `image`."""
        lb = self._input.fill(image)
        return self._input.tensor.copy(), lb

    def _detect_one(self, image: np.ndarray, offset: tuple[int, int] = (0, 0)):
        lb = self._input.fill(image)
        started = time.perf_counter()
        raw = self._infer(self._input.tensor)
        self.last_inference_ms += (time.perf_counter() - started) * 1000
        cand = decode(raw, self.layout, len(self.labels), self.score_threshold)
        rule_ids = self._map[cand.class_ids] if len(cand.class_ids) else cand.class_ids
        keep = rule_ids >= 0
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
        np.clip(boxes, 0, np.array([w, h, w, h], np.float32), out=boxes)
        # Class-aware NMS, also after end-to-end models: regions overlap, and several labels
        # may have been mapped onto one rule class.
        keep = nms(boxes, scores, ids, self.iou_threshold, self.max_detections)
        return Detections(boxes[keep].astype(np.float32), scores[keep], ids[keep], self.classes, coverage)
