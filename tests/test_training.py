"""The training tool (models/train/): a tiny end-to-end run and the assigner/loss on hand-made cases."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from models.train.dataset import build_dataset  # noqa: E402
from models.train.evaluate import APAccumulator, ap_all_point  # noqa: E402
from models.train.loss import DetectionLoss, TaskAlignedAssigner  # noqa: E402
from models.train.model import REG_MAX, make_anchors  # noqa: E402
from models.train.scenes import random_scene, to_scenario, to_toml  # noqa: E402
from simulator.scenario import parse_scenario  # noqa: E402


def test_random_scenes_are_valid_scenarios_with_every_class():
    kinds, rods = set(), 0
    for seed in range(40):
        data = random_scene(seed)
        sc = parse_scenario(to_toml(data))  # the written TOML is a valid scenario file
        assert sc.name == f"train_{seed:06d}" and not sc.truth
        to_scenario(data)
        kinds |= {a.kind for a in sc.actors}
        rods += sum(1 for a in sc.actors if a.kind == "person" and a.rod)
    assert kinds == {"person", "boat", "stall", "cart", "vehicle"} and rods > 10


def test_tiny_dataset_trains_and_exports_onnx(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from models.train.export import write_model_folder
    from models.train.train import load_model, train

    idx = build_dataset(tmp_path / "data", scenes=2, frames_per_scene=2, workers=1)
    assert idx["stats"]["images"] == 4 and (tmp_path / "data" / "scenes" / "train_000001.toml").exists()
    small = dict(widths=(8, 16, 16, 24, 32), depths=(1, 1, 1, 1))
    ckpt = train(tmp_path / "data", tmp_path / "run", epochs=1, batch=2, max_iters=2, workers=0,
                 log=lambda _m: None, **small)
    assert (tmp_path / "run" / "last.pt").exists()
    # resuming a finished run is a no-op that still writes the final weights
    train(tmp_path / "data", tmp_path / "run", epochs=1, batch=2, max_iters=2, workers=0, resume=True,
          log=lambda _m: None, **small)
    model = load_model(ckpt)
    man = write_model_folder(model, tmp_path / "model", {"images": 4}, {})
    assert man["output"] == {"layout": "yolov8"} and man["input"]["name"] == "images"
    assert json.loads((tmp_path / "model" / "manifest.json").read_text())["sha256"] == man["sha256"]
    sess = ort.InferenceSession(str(tmp_path / "model" / "model.onnx"), providers=["CPUExecutionProvider"])
    (inp,) = sess.get_inputs()
    assert inp.name == "images" and inp.shape == [1, 3, 320, 320]
    out = sess.run(None, {"images": np.random.rand(1, 3, 320, 320).astype(np.float32)})[0]
    assert out.shape == (1, 4 + 6, 40 * 40 + 20 * 20 + 10 * 10)
    assert out[0, 4:].min() >= 0.0 and out[0, 4:].max() <= 1.0  # sigmoid scores


def _maps_for(box_px, cls: int, nc: int = 6, size: int = 320, shift: float = 0.0):
    """Raw head maps whose decoded output is `box_px` (shifted by `shift` px) at every anchor near it."""
    feats = [torch.zeros(1, 4 * REG_MAX + nc, size // s, size // s) for s in (8, 16, 32)]
    anchors, strides = make_anchors(feats)
    x1, y1, x2, y2 = (v + shift for v in box_px)
    flat = torch.full((anchors.shape[0], 4 * REG_MAX + nc), -10.0)
    for a in range(anchors.shape[0]):
        ax, ay = (anchors[a] * strides[a]).tolist()
        s = strides[a].item()
        d = [(ax - x1) / s, (ay - y1) / s, (x2 - ax) / s, (y2 - ay) / s]
        if min(d) < 0 or max(d) > REG_MAX - 1:
            continue
        for k, v in enumerate(d):  # a two-bin distribution whose expectation is v
            lo = int(v)
            w_hi = v - lo
            logits = torch.full((REG_MAX,), -20.0)
            logits[lo] = float(np.log(max(1 - w_hi, 1e-6)))
            if lo + 1 < REG_MAX:
                logits[lo + 1] = float(np.log(max(w_hi, 1e-6)))
            flat[a, k * REG_MAX:(k + 1) * REG_MAX] = logits
        flat[a, 4 * REG_MAX + cls] = 4.0
    maps, i = [], 0
    for f in feats:
        n = f.shape[2] * f.shape[3]
        maps.append(flat[i:i + n].T.reshape(1, -1, f.shape[2], f.shape[3]).clone())
        i += n
    return maps


def test_loss_prefers_a_perfect_prediction_to_a_shifted_one():
    loss = DetectionLoss(6)
    box = (100.0, 80.0, 140.0, 180.0)
    targets = torch.tensor([[0, 0, *box]])
    good, _ = loss(_maps_for(box, 0), targets)
    shifted, _ = loss(_maps_for(box, 0, shift=12.0), targets)
    wrong_cls, _ = loss(_maps_for(box, 3), targets)
    assert good < shifted and good < wrong_cls


def test_assigner_picks_anchors_inside_the_box_even_for_a_tiny_one():
    feats = [torch.zeros(1, 1, 320 // s, 320 // s) for s in (8, 16, 32)]
    anchors, strides = make_anchors(feats)
    anc_px = anchors * strides
    a = anc_px.shape[0]
    boxes = torch.tensor([[[40.0, 40.0, 120.0, 200.0], [201.0, 201.0, 205.0, 206.0]]])  # big, and 4x5 px
    pd_boxes = torch.cat((anc_px - 20, anc_px + 20), -1).unsqueeze(0)
    pd_scores = torch.full((1, a, 6), 0.1)
    t_boxes, t_scores, fg = TaskAlignedAssigner(topk=10)(
        pd_scores, pd_boxes, anc_px, strides, torch.tensor([[[0.0], [1.0]]]), boxes, torch.ones(1, 2, 1))
    assert 0 < int(fg.sum()) <= 20
    pos = anc_px[fg[0]]
    for b in boxes[0]:
        mine = (t_boxes[0][fg[0]] == b).all(-1)
        assert mine.any(), "every gt box gets at least one anchor"
        ctr = (b[:2] + b[2:]) / 2
        assert ((pos[mine] - ctr).abs() <= torch.maximum((b[2:] - b[:2]) / 2, strides[fg[0]][mine] / 2)).all()
    assert t_scores[0][fg[0]].argmax(-1).tolist().count(1) >= 1
    assert (t_scores[0][~fg[0]] == 0).all()


def test_ap_all_point_interpolation():
    assert ap_all_point([(0.9, True), (0.8, True)], 2) == pytest.approx(1.0)
    # TP, FP, TP of 2 gts: precision envelope 1 up to r=0.5, 2/3 up to r=1
    assert ap_all_point([(0.9, True), (0.8, False), (0.7, True)], 2) == pytest.approx(0.5 + 0.5 * 2 / 3)
    acc = APAccumulator(nc=1)
    gt = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    acc.add(np.array([[0, 0, 10, 10], [1, 1, 10, 10]], np.float32), np.array([0.9, 0.8], np.float32),
            np.zeros(2, np.int64), gt, np.zeros(2, np.int64))
    assert acc.result()["per_class_ap50"]["person"] == pytest.approx(0.5)  # duplicate is a FP, 1 of 2 found


def test_an_aerial_run_from_the_aerial_model_is_its_next_version():
    import json
    from pathlib import Path

    from models.train.aerial import aerial_version

    shipped = json.loads((Path(__file__).parent.parent / "models" / "aerial" / "manifest.json").read_text())
    assert aerial_version(shipped) == str(int(shipped["version"]) + 1)
    default = json.loads((Path(__file__).parent.parent / "models" / "default" / "manifest.json").read_text())
    assert aerial_version(default) == "1"
