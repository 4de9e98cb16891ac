"""The ONNX detector: every output layout, exact back-projection, NMS, class mapping, bad models."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from edge.detect import Detector, ModelError
from edge.detect.letterbox import InputTensor, letterbox

from .conftest import run_cli
from .onnx_models import end2end_output, model_folder, yolov5_output, yolov8_output

CLASSES = ["person", "fishing_rod", "boat", "stall", "cart", "vehicle"]
# A 640x360 frame letterboxed into 320x320: scale 0.5, content 320x180, 70 rows of padding on top.
FRAME = np.full((360, 640, 3), 90, np.uint8)


def boxes_of(d):
    return {(name, tuple(round(float(v), 3) for v in box)) for name, box in zip(d.names, d.boxes, strict=True)}


def test_letterbox_geometry_on_non_square_frames():
    boxed, lb = letterbox(np.zeros((360, 640, 3), np.uint8), 320, 320)
    assert boxed.shape == (320, 320, 3) and (lb.left, lb.top) == (0, 70) and lb.sx == lb.sy == 0.5
    assert (boxed[:70] == 114).all() and (boxed[70:250] == 0).all() and (boxed[250:] == 114).all()
    boxed, lb = letterbox(np.zeros((500, 300, 3), np.uint8), 320, 320)  # portrait: padding left and right
    assert lb.top == 0 and lb.left == 64 and boxed[:, :64].min() == 114
    back = lb.to_source(np.array([[64.0, 0.0, 256.0, 320.0]]))
    assert np.allclose(back, [[0, 0, 300, 500]])


def test_the_reused_input_tensor_holds_what_letterbox_and_blob_would_make():
    """The node's hot path writes into one tensor, frame after frame: each frame must look exactly as
    the reference letterbox + blobFromImage would make it, also when the picture's shape changes
    (a crop after a whole frame) and the old padding must not show through."""
    rng = np.random.default_rng(3)
    for rgb, center in ((True, True), (False, False)):
        tensor = InputTensor(320, 256, scale=1 / 255, rgb=rgb, center=center)
        for h, w in ((720, 1280), (500, 300), (256, 320), (720, 1280), (90, 400)):
            image = rng.integers(0, 256, (h, w, 3), np.uint8)
            lb = tensor.fill(image)
            boxed, want = letterbox(image, 320, 256, center=center)
            blob = cv2.dnn.blobFromImage(boxed, scalefactor=1 / 255, swapRB=rgb)
            assert np.allclose(tensor.tensor, blob, atol=1e-6), (h, w, rgb, center)
            assert lb == want


def test_yolov8_layout_and_exact_back_projection(tmp_path):
    out = yolov8_output([(160, 160, 40, 20, 0, 0.9), (100, 100, 10, 30, 5, 0.8), (50, 50, 10, 10, 2, 0.1)], 6)
    det = Detector(model_folder(tmp_path / "m", out, CLASSES), score_threshold=0.25)
    assert det.layout == "yolov8"
    d = det.detect(FRAME)
    # input (140..180, 150..170) -> frame ((140-0)/0.5, (150-70)/0.5, ...) = (280, 160, 360, 200)
    assert boxes_of(d) == {("person", (280.0, 160.0, 360.0, 200.0)), ("vehicle", (190.0, 30.0, 210.0, 90.0))}
    assert sorted(np.round(d.scores, 3)) == [0.8, 0.9]


def test_yolov8_transposed_export_is_read_when_the_manifest_says_so(tmp_path):
    out = yolov8_output([(160, 160, 40, 20, 3, 0.9)], 6).transpose(0, 2, 1).copy()
    # (1, N, 4+C) is also the RT-DETR shape: without a named layout that is an error, never a guess
    with pytest.raises(ModelError, match="ambiguous.*--layout yolov8.*--layout rtdetr"):
        Detector(model_folder(tmp_path / "auto", out, CLASSES))
    det = Detector(model_folder(tmp_path / "m", out, CLASSES, layout="yolov8"))
    assert det.layout == "yolov8"
    assert boxes_of(det.detect(FRAME)) == {("stall", (280.0, 160.0, 360.0, 200.0))}


def test_yolov5_layout_multiplies_objectness_and_class(tmp_path):
    out = yolov5_output([(160, 160, 40, 20, 0.9, 1, 0.8),  # 0.72: kept
                         (200, 200, 40, 20, 0.5, 2, 0.5)], 6)  # 0.25: under the threshold
    det = Detector(model_folder(tmp_path / "m", out, CLASSES), score_threshold=0.3)
    assert det.layout == "yolov5"
    d = det.detect(FRAME)
    assert boxes_of(d) == {("fishing_rod", (280.0, 160.0, 360.0, 200.0))}
    assert d.scores[0] == pytest.approx(0.72, abs=1e-5)


def test_end2end_layout(tmp_path):
    out = end2end_output([(140, 150, 180, 170, 0.9, 2), (0, 70, 320, 250, 0.2, 0)])
    # (1, K, 6) is also Ultralytics 8.4's RT-DETR output (normalised cx,cy,w,h): named, never guessed
    with pytest.raises(ModelError, match="ambiguous.*--layout end2end.*--layout rtdetr_topk"):
        Detector(model_folder(tmp_path / "auto", out, CLASSES))
    det = Detector(model_folder(tmp_path / "m", out, CLASSES, layout="end2end"), score_threshold=0.3)
    assert det.layout == "end2end"
    assert boxes_of(det.detect(FRAME)) == {("boat", (280.0, 160.0, 360.0, 200.0))}


def test_manifest_layout_must_match_the_output(tmp_path):
    out = yolov8_output([], 6)
    with pytest.raises(ModelError, match="not a yolov5 output"):
        Detector(model_folder(tmp_path / "m", out, CLASSES, layout="yolov5"))
    with pytest.raises(ModelError, match="fits no known layout for 5 classes"):
        Detector(model_folder(tmp_path / "n", out, CLASSES[:5]))


def test_nms_is_class_aware(tmp_path):
    rows = [(160, 160, 40, 40, 0, 0.9), (162, 160, 40, 40, 0, 0.8),  # same class, overlapping: one stays
            (160, 160, 40, 40, 1, 0.7)]  # another class on the same spot: stays
    det = Detector(model_folder(tmp_path / "m", yolov8_output(rows, 6), CLASSES))
    d = det.detect(FRAME)
    assert sorted(d.names) == ["fishing_rod", "person"]
    assert d.scores[list(d.names).index("person")] == pytest.approx(0.9)


def test_foreign_labels_map_onto_rule_classes(tmp_path):
    labels = ["Person", "Fishing Rod", "Car", "SUV", "Dog"]
    rows = [(100, 160, 40, 40, 2, 0.9), (101, 160, 40, 40, 3, 0.85),  # Car and SUV on one object: one vehicle
            (200, 160, 40, 40, 4, 0.9),  # Dog: no rule class, dropped
            (250, 160, 20, 60, 1, 0.6)]
    folder = model_folder(tmp_path / "m", yolov8_output(rows, len(labels)), labels)
    det = Detector(folder, classes=CLASSES,
                   class_map={"Person": "person", "Fishing Rod": "fishing_rod", "Car": "vehicle", "SUV": "vehicle"})
    assert sorted(det.detect(FRAME).names) == ["fishing_rod", "vehicle"]
    with pytest.raises(ModelError, match="'Fishing Pole', not labels of the model"):
        Detector(folder, classes=CLASSES, class_map={"Fishing Pole": "fishing_rod"})
    with pytest.raises(ModelError, match="'rod', not rule classes"):
        Detector(folder, classes=CLASSES, class_map={"Fishing Rod": "rod"})


def test_regions_are_detected_at_their_own_scale_and_offset(tmp_path):
    out = yolov8_output([(160, 160, 40, 20, 0, 0.9)], 6)
    det = Detector(model_folder(tmp_path / "m", out, CLASSES))
    frame = np.zeros((720, 1280, 3), np.uint8)
    d = det.detect(frame, regions=[(400, 100, 720, 420)])  # a 320 square: scale 1, no padding
    assert boxes_of(d) == {("person", (540.0, 250.0, 580.0, 270.0))}
    assert d.coverage == ((400, 100, 720, 420),)
    d = det.detect(frame, regions=[(0, 0, 640, 640), (640, 0, 1280, 640)])  # two squares at scale 0.5
    assert boxes_of(d) == {("person", (280.0, 300.0, 360.0, 340.0)), ("person", (920.0, 300.0, 1000.0, 340.0))}
    assert d.covers((900, 300, 1000, 340)) and not d.covers((900, 700, 1000, 710))


def test_boxes_are_clipped_to_the_frame(tmp_path):
    out = yolov8_output([(5, 80, 20, 30, 0, 0.9)], 6)
    d = Detector(model_folder(tmp_path / "m", out, CLASSES)).detect(FRAME)
    assert d.boxes[0][0] == 0.0 and d.boxes[0][2] == pytest.approx(30.0)


@pytest.mark.parametrize("damage", ["flip", "truncate", "replace"])
def test_damaged_models_fail_at_load_with_one_line(tmp_path, damage):
    folder = model_folder(tmp_path / "m", yolov8_output([], 6), CLASSES)
    onnx_file = folder / "model.onnx"
    data = bytearray(onnx_file.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
    elif damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data = bytearray(model_folder(tmp_path / "other", yolov8_output([(1, 1, 1, 1, 0, 1)], 6), CLASSES)
                         .joinpath("model.onnx").read_bytes())
    onnx_file.write_bytes(bytes(data))
    with pytest.raises(ModelError) as info:
        Detector(folder)
    message = str(info.value)
    assert "\n" not in message and "does not match the manifest" in message


def test_a_manifest_describing_garbage_fails_cleanly(tmp_path):
    folder = model_folder(tmp_path / "m", yolov8_output([], 6), CLASSES)
    (folder / "model.onnx").write_bytes(b"not an onnx model at all")
    manifest = json.loads((folder / "manifest.json").read_text())
    from edge.detect.model import sha256_file

    manifest["sha256"] = sha256_file(folder / "model.onnx")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="onnxruntime cannot load it"):
        Detector(folder)


def test_input_size_must_match_the_manifest(tmp_path):
    folder = model_folder(tmp_path / "m", yolov8_output([], 6), CLASSES, input_hw=(640, 640))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["input"]["width"] = manifest["input"]["height"] = 320
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="the manifest says 320x320"):
        Detector(folder)


def test_missing_manifest_and_mismatched_labels(tmp_path):
    folder = model_folder(tmp_path / "m", yolov8_output([], 6), CLASSES)
    (folder / "labels.txt").write_text("a\nb\n")
    with pytest.raises(ModelError, match="labels differ"):
        Detector(folder)
    (folder / "manifest.json").unlink()
    with pytest.raises(ModelError, match="manifest.json: missing"):
        Detector(folder)


def test_model_cli_info_import_and_bench(tmp_path):
    folder = model_folder(tmp_path / "m", yolov8_output([(160, 160, 40, 20, 0, 0.9)], 6), CLASSES)
    info = run_cli("edge-node", "model", "info", str(folder))
    assert info.returncode == 0, info.stderr
    assert "sha256" in info.stdout and "(ok)" in info.stdout and "person, fishing_rod" in info.stdout
    (tmp_path / "data.yaml").write_text("path: x\nnames:\n  0: Person\n  1: Fishing Rod\n  2: Car\n  3: b\n  4: c\n  5: d\n")
    imported = run_cli("edge-node", "model", "import", str(folder / "model.onnx"), "--labels",
                       str(tmp_path / "data.yaml"), "--out", str(tmp_path / "imported"))
    assert imported.returncode == 0, imported.stderr
    manifest = json.loads((tmp_path / "imported" / "manifest.json").read_text())
    assert manifest["classes"][:3] == ["Person", "Fishing Rod", "Car"] and manifest["output"]["layout"] == "yolov8"
    bench = run_cli("edge-node", "model", "bench", str(tmp_path / "imported"), "--runs", "5")
    assert bench.returncode == 0, bench.stderr
    assert json.loads(bench.stdout)["runs"] == 5
    (folder / "model.onnx").write_bytes(b"x")
    broken = run_cli("edge-node", "model", "info", str(folder))
    assert broken.returncode == 2 and "MISMATCH" in broken.stdout
    assert broken.stderr.count("\n") == 1 and "does not match the manifest" in broken.stderr


def test_run_refuses_a_corrupt_model_at_start_up(tmp_path, level_clip):
    folder = model_folder(tmp_path / "model", yolov8_output([], 6), CLASSES)
    (folder / "model.onnx").write_bytes((folder / "model.onnx").read_bytes()[:-10])
    profile = tmp_path / "p.toml"
    profile.write_text(f'[node]\nid = "t"\nkind = "camera"\n[capture]\nsource = "file:{level_clip}"\n'
                       f'[detect]\nmodel = "model"\n')
    check = run_cli("edge-node", "check-config", str(profile))
    assert check.returncode == 2 and "detect.model:" in check.stderr and "does not match" in check.stderr
    run = run_cli("edge-node", "run", "--config", str(profile))
    assert run.returncode == 2 and "does not match" in run.stderr and "Traceback" not in run.stderr


def test_check_config_knows_what_a_model_can_detect(tmp_path):
    labels = ["Person", "Car"]
    model_folder(tmp_path / "model", yolov8_output([], 2), labels)
    profile = tmp_path / "p.toml"
    profile.write_text(
        '[node]\nid = "t"\nkind = "camera"\n[capture]\nsource = "usb:0"\n'
        '[detect]\nmodel = "model"\nclass_map = { Person = "person", Truck = "vehicle" }\n'
        '[[zones]]\nname = "z"\npolygon = [[0, 0], [1, 0], [1, 1]]\n'
        '[[rules]]\nname = "f"\nkind = "fishing"\nzones = ["z"]\n'
    )
    check = run_cli("edge-node", "check-config", str(profile))
    assert check.returncode == 2
    assert f"{profile}: detect.class_map.Truck: not a label of the model" in check.stderr
    assert f"{profile}: rules[0]: needs fishing_rod, which the model cannot detect" in check.stderr
