"""`edge-node model import` and the Detector on every common export: layout from metadata, ambiguous
shapes refused with the `--layout` to give, dynamic inputs fixed at import, SSD, RT-DETR, and the
reference's NMS semantics (no candidate cut, NMS before clipping, NMS-free outputs left alone)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from onnx import TensorProto

from edge.detect import Detector, ModelError
from edge.detect.importer import import_model

from .conftest import run_cli
from .onnx_models import end2end_output, exported_model, model_folder, ultralytics_metadata, yolov8_output

FRAME = np.full((480, 640, 3), 90, np.uint8)


def _boxes(d):
    return sorted((n, tuple(round(float(v), 1) for v in b)) for n, b in zip(d.names, d.boxes, strict=True))


def test_an_nms_export_with_one_class_is_end2end_by_its_metadata(tmp_path):
    # (1, 300, 6) with one class is also the yolov5 shape: the old importer took it for yolov5 and found nothing
    rows = [(100, 100, 200, 180, 0.9, 0), (104, 100, 204, 180, 0.8, 0)]  # overlapping: NMS-free keeps both
    out = end2end_output(rows)
    onnx = exported_model(tmp_path / "m.onnx", {"output0": out}, metadata=ultralytics_metadata(["person"], nms=True))
    manifest = import_model(onnx, tmp_path / "m")  # no --labels: the metadata has names
    assert manifest.output.layout == "end2end" and manifest.classes == ("person",)
    det = Detector(tmp_path / "m", score_threshold=0.25)
    assert det.nms is False
    frame = np.full((320, 320, 3), 90, np.uint8)
    assert _boxes(det.detect(frame)) == [("person", (100.0, 100.0, 200.0, 180.0)), ("person", (104.0, 100.0, 204.0, 180.0))]


def test_without_metadata_an_ambiguous_shape_asks_for_a_layout(tmp_path):
    out = end2end_output([(100, 100, 200, 180, 0.9, 1)])
    onnx = exported_model(tmp_path / "m.onnx", {"output0": out})
    (tmp_path / "labels.txt").write_text("person\nboat\n")
    run = run_cli("edge-node", "model", "import", str(onnx), "--labels", str(tmp_path / "labels.txt"),
                  "--out", str(tmp_path / "m"))
    assert run.returncode == 2 and "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1
    for layout in ("end2end", "rtdetr_topk", "yolov8", "rtdetr"):
        assert f"--layout {layout}" in run.stderr
    run = run_cli("edge-node", "model", "import", str(onnx), "--labels", str(tmp_path / "labels.txt"),
                  "--out", str(tmp_path / "m"), "--layout", "end2end")
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "m" / "manifest.json").read_text())["output"]["layout"] == "end2end"


def test_a_dynamic_export_is_fixed_at_import(tmp_path):
    out = yolov8_output([(160, 120, 40, 20, 0, 0.9)], 2)
    shape = ["batch", 3, "height", "width"]
    meta = ultralytics_metadata(["person", "boat"], imgsz=(256, 320))
    onnx = exported_model(tmp_path / "dyn.onnx", {"output0": out}, input_shape=shape, metadata=meta)
    manifest = import_model(onnx, tmp_path / "m")
    assert (manifest.input.width, manifest.input.height) == (320, 256)  # Ultralytics writes imgsz as [h, w]
    assert manifest.sha256 == json.loads((tmp_path / "m" / "manifest.json").read_text())["sha256"]
    det = Detector(tmp_path / "m")
    assert det.input_size == (320, 256) and det._input.tensor.shape == (1, 3, 256, 320)

    bare = exported_model(tmp_path / "bare.onnx", {"output0": out}, input_shape=shape)
    (tmp_path / "labels.txt").write_text("person\nboat\n")
    with pytest.raises(ModelError, match="dynamic.*--imgsz"):
        import_model(bare, tmp_path / "n", labels_path=tmp_path / "labels.txt")
    manifest = import_model(bare, tmp_path / "n", labels_path=tmp_path / "labels.txt", imgsz=(416, 256))
    assert (manifest.input.width, manifest.input.height) == (416, 256)
    with pytest.raises(ModelError, match="fixed at 320x320"):
        import_model(exported_model(tmp_path / "fixed.onnx", {"output0": out}), tmp_path / "o",
                     labels_path=tmp_path / "labels.txt", imgsz=(640, 640))


def test_other_tasks_and_missing_names_are_refused(tmp_path):
    out = yolov8_output([], 2)
    seg = exported_model(tmp_path / "seg.onnx", {"output0": out},
                         metadata=ultralytics_metadata(["a", "b"], task="segment"))
    with pytest.raises(ModelError, match="task='segment'"):
        import_model(seg, tmp_path / "m")
    with pytest.raises(ModelError, match="no class names; give --labels"):
        import_model(exported_model(tmp_path / "plain.onnx", {"output0": out}), tmp_path / "n")


def test_an_ssd_export_uint8_nhwc_stretched(tmp_path):
    boxes = np.zeros((1, 10, 4), np.float32)
    scores = np.zeros((1, 10), np.float32)
    classes = np.zeros((1, 10), np.float32)
    boxes[0, 0], scores[0, 0], classes[0, 0] = (0.25, 0.1, 0.75, 0.5), 0.9, 1  # y1, x1, y2, x2; class 1 = person
    boxes[0, 1], scores[0, 1], classes[0, 1] = (0.0, 0.0, 0.5, 0.5), 0.8, 2  # past the count: ignored
    outputs = {"detection_boxes": boxes, "detection_scores": scores, "detection_classes": classes,
               "num_detections": np.array([1], np.float32)}
    onnx = exported_model(tmp_path / "ssd.onnx", outputs, input_shape=["n", "h", "w", 3],
                          input_type=TensorProto.UINT8, input_name="image_tensor")
    (tmp_path / "labels.txt").write_text("person\ncar\n")
    manifest = import_model(onnx, tmp_path / "m", labels_path=tmp_path / "labels.txt", imgsz=(300, 300))
    assert manifest.output.layout == "ssd" and manifest.output.label_offset == 1
    assert (manifest.input.tensor, manifest.input.dtype, manifest.input.resize) == ("NHWC", "uint8", "stretch")
    det = Detector(tmp_path / "m", score_threshold=0.3)
    frame = np.random.default_rng(1).integers(0, 255, (480, 640, 3), np.uint8)
    assert _boxes(det.detect(frame)) == [("person", (64.0, 120.0, 320.0, 360.0))]
    tensor, _ = det.preprocess(frame)
    want = cv2.cvtColor(cv2.resize(frame, (300, 300), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
    assert tensor.dtype == np.uint8 and np.array_equal(tensor[0], want)


def test_an_rtdetr_export_with_class_scores(tmp_path):
    out = np.zeros((1, 300, 7), np.float32)
    out[0, 0, :4], out[0, 0, 6] = (0.5, 0.5, 0.25, 0.25), 0.8  # normalised cx, cy, w, h; class 2
    meta = ultralytics_metadata(["a", "b", "c"], description="Ultralytics RT-DETR-l model")
    meta["version"] = "8.3.0"
    manifest = import_model(exported_model(tmp_path / "rt.onnx", {"output0": out}, metadata=meta), tmp_path / "m")
    assert manifest.output.layout == "rtdetr" and manifest.input.resize == "stretch"
    assert _boxes(Detector(tmp_path / "m").detect(FRAME)) == [("c", (240.0, 180.0, 400.0, 300.0))]


def test_nms_keeps_every_candidate_and_caps_only_the_kept(tmp_path):
    # 300 separate objects, each predicted twice: a cut to the best 300 candidates before NMS kept 150
    rows = []
    for k in range(300):
        cx, cy = 10 + 16 * (k % 20), 10 + 16 * (k // 20)
        score = 0.9 - k * 0.001
        rows += [(cx, cy, 10, 10, 0, score), (cx + 0.5, cy, 10, 10, 0, score - 0.0005)]
    det = Detector(model_folder(tmp_path / "m", yolov8_output(rows, 1, n=640), ["person"]), score_threshold=0.25,
                   iou_threshold=0.45, max_detections=300)
    frame = np.full((320, 320, 3), 90, np.uint8)
    assert len(det.detect(frame)) == 300
    det.max_detections = 100
    d = det.detect(frame)
    assert len(d) == 100 and d.scores[0] == pytest.approx(0.9)


def test_nms_runs_before_clipping(tmp_path):
    # Unclipped, the two boxes overlap by IoU 0.33 (both stay, as in the reference); clipped they would
    # be identical and one would wrongly go.
    rows = [(-50, 150, 300, 100, 0, 0.9), (50, 150, 100, 100, 0, 0.8)]
    det = Detector(model_folder(tmp_path / "m", yolov8_output(rows, 1), ["person"]), iou_threshold=0.45)
    d = det.detect(np.full((320, 320, 3), 90, np.uint8))
    assert _boxes(d) == [("person", (0.0, 100.0, 100.0, 200.0)), ("person", (0.0, 100.0, 100.0, 200.0))]


def test_model_info_names_the_layout_and_nms(tmp_path):
    out = end2end_output([(100, 100, 200, 180, 0.9, 0)])
    onnx = exported_model(tmp_path / "m.onnx", {"output0": out}, metadata=ultralytics_metadata(["person"], nms=True))
    assert run_cli("edge-node", "model", "import", str(onnx), "--out", str(tmp_path / "m")).returncode == 0
    info = run_cli("edge-node", "model", "info", str(tmp_path / "m"))
    assert info.returncode == 0 and "end2end, no NMS" in info.stdout


def test_a_classic_yolov5_export_takes_its_names_and_its_shape(tmp_path):
    # The yolov5 repo writes only stride and names; its (1, N, 5+C) shape is unambiguous for C > 1.
    out = np.zeros((1, 64, 7), np.float32)
    out[0, 0] = (160, 160, 40, 20, 0.9, 0.1, 0.8)  # objectness 0.9 x class 1 0.8 = 0.72
    onnx = exported_model(tmp_path / "v5.onnx", {"output0": out},
                          metadata={"stride": "32", "names": "{0: 'person', 1: 'car'}"})
    manifest = import_model(onnx, tmp_path / "m")
    assert manifest.output.layout == "yolov5" and manifest.classes == ("person", "car")
    d = Detector(tmp_path / "m").detect(np.full((320, 320, 3), 90, np.uint8))
    assert _boxes(d) == [("car", (140.0, 150.0, 180.0, 170.0))] and d.scores[0] == pytest.approx(0.72)
