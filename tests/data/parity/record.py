"""Record Ultralytics' own predictions for the parity fixtures here (run once, in a scratch venv).

    python -m venv /work/scratch/models/ul && /work/scratch/models/ul/bin/pip install torch==2.13.0 \
        ultralytics==8.4.190 onnx onnxruntime onnxslim
    /work/scratch/models/ul/bin/python tests/data/parity/record.py

Ultralytics is never a dependency of the project: this writes small ONNX exports (narrow models built
from Ultralytics' own yaml files, seeded random weights, no download) and `<name>.json` with the boxes
Ultralytics' `predict` gives on three real photos.  The class biases are raised so that hundreds of
boxes pass conf 0.25, many of them overlapping: the hard case for NMS semantics (candidate cuts,
clip-before-NMS) that real weights on four images also showed.  Parity is about post-processing and
geometry, not accuracy.  (An `nms=True` export is not among them: onnxslim does not finish on it
here, and unslimmed it fails in onnxruntime on a picture with no candidates; tests/test_import.py
covers its (1, 300, 6) output with Ultralytics' metadata on a small graph.)

The torchvision wheel on PyPI is built for CUDA torch and cannot load beside the CPU torch used here;
a stand-in `torchvision` whose ops.nms is Ultralytics' own TorchNMS.nms (which Ultralytics documents
to match torchvision exactly) is put first on the path.  End-to-end and RT-DETR outputs use no NMS.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

WORK = Path("/work/scratch/models/parity")
STUB = WORK / "stub" / "torchvision"
STUB.mkdir(parents=True, exist_ok=True)
(STUB / "__init__.py").write_text("__version__ = '0.28.0'\nfrom . import ops  # noqa\n")
(STUB / "ops.py").write_text("def nms(boxes, scores, iou):\n"
                             "    from ultralytics.utils.nms import TorchNMS\n"
                             "    return TorchNMS.nms(boxes, scores, iou)\n")
sys.path.insert(0, str(STUB.parent))

import torch  # noqa: E402
import ultralytics  # noqa: E402
from ultralytics import RTDETR, YOLO  # noqa: E402

HERE = Path(__file__).resolve().parent
PHOTOS = HERE.parent / "photos"
IMAGES = ["bus.jpg", "zidane.jpg", "grace_hopper.jpg"]
CFG = Path(ultralytics.__file__).parent / "cfg" / "models"
CONF, IOU, IMGSZ = 0.25, 0.7, 320
ONLY = set(sys.argv[1:])  # record only these fixtures (default: all)


def narrow(yaml: Path, nc: int, out: Path) -> Path:
    """The same architecture, width 1/16 (channels >= 8), `nc` classes: a few hundred kB of ONNX."""
    text = yaml.read_text()
    text = re.sub(r"^nc: \d+", f"nc: {nc}", text, flags=re.M)
    text = re.sub(r"^(\s+n: \[)[^\]]*\]", r"\g<1>0.33, 0.0625, 1024]", text, flags=re.M)
    out.write_text(text)
    return out


RTDETR_YAML = """
nc: {nc}
scales:
  n: [0.33, 0.0625, 1024]
backbone:
  - [-1, 1, Conv, [64, 3, 2]]
  - [-1, 1, Conv, [128, 3, 2]]
  - [-1, 1, C2f, [128, True]]
  - [-1, 1, Conv, [256, 3, 2]]
  - [-1, 1, C2f, [256, True]]
  - [-1, 1, Conv, [512, 3, 2]]
  - [-1, 1, C2f, [512, True]]
  - [-1, 1, Conv, [1024, 3, 2]]
  - [-1, 1, C2f, [1024, True]]
head:
  - [[4, 6, 8], 1, RTDETRDecoder, [nc, 32, 300, 4, 4, 2, 64]]
"""


def calibrate(model) -> None:
    """Set every BatchNorm's statistics from the photos (random init leaves activations near zero)."""
    import cv2
    import numpy as np

    net = model.model
    batch = []
    for image in IMAGES:
        img = cv2.resize(cv2.imread(str(PHOTOS / image)), (IMGSZ, IMGSZ))[:, :, ::-1]
        batch.append(torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float() / 255)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative: the statistics of exactly these pictures
    net.train()
    with torch.no_grad():
        net(torch.stack(batch))
    net.eval()


def raise_class_biases(model, value: float, gain: float = 1.0) -> None:
    """Class logits = gain x (random weights) + value: scores spread and follow the picture."""
    calibrate(model)
    head = model.model.model[-1]
    layers = [branch[-1] for name in ("cv3", "one2one_cv3") for branch in getattr(head, name, [])]
    layers += list(getattr(head, "dec_score_head", []))
    if hasattr(head, "enc_score_head"):
        layers.append(head.enc_score_head)
    with torch.no_grad():
        for layer in layers:
            layer.weight.mul_(gain)
            layer.bias.fill_(value)


def record(name: str, model, bias: float, **export) -> None:
    if ONLY and name not in ONLY:
        return
    torch.manual_seed(0)
    raise_class_biases(model, bias, 3.0)
    onnx = Path(model.export(format="onnx", imgsz=IMGSZ, simplify=True, **export))
    shutil.copy(onnx, HERE / f"{name}.onnx")
    ref = RTDETR(str(HERE / f"{name}.onnx")) if "rtdetr" in name else YOLO(str(HERE / f"{name}.onnx"), task="detect")
    images = {}
    for image in IMAGES:
        r = ref.predict(str(PHOTOS / image), conf=CONF, iou=IOU, imgsz=IMGSZ, rect=False, verbose=False)[0]
        images[image] = {"xyxy": [[round(v, 3) for v in b] for b in r.boxes.xyxy.tolist()],
                         "conf": [round(v, 5) for v in r.boxes.conf.tolist()],
                         "cls": [int(v) for v in r.boxes.cls.tolist()]}
        print(name, image, len(images[image]["cls"]))
    fixture = {"ultralytics": ultralytics.__version__, "torch": torch.__version__, "conf": CONF, "iou": IOU,
               "imgsz": IMGSZ, "export": export, "images": images}
    (HERE / f"{name}.json").write_text(json.dumps(fixture, separators=(",", ":")) + "\n")


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    v8 = narrow(CFG / "v8" / "yolov8.yaml", 3, WORK / "yolov8n.yaml")
    record("yolov8", YOLO(str(v8)), -2.0)
    y26 = narrow(CFG / "26" / "yolo26.yaml", 2, WORK / "yolo26n.yaml")
    torch.manual_seed(0)
    record("yolo26_one2many", YOLO(str(y26)), -2.0)  # nms left unset: the one-to-many head, (1, 4+C, N)
    torch.manual_seed(0)
    record("yolo26_e2e", YOLO(str(y26)), -2.0, nms=False)  # NMS-free one-to-one head, (1, 300, 6)
    torch.manual_seed(0)
    record("yolo26_e2e_dynamic", YOLO(str(y26)), -2.0, nms=False, dynamic=True)
    torch.manual_seed(0)
    (WORK / "rtdetr-n.yaml").write_text(RTDETR_YAML.format(nc=3))
    record("rtdetr", RTDETR(str(WORK / "rtdetr-n.yaml")), -2.0)


if __name__ == "__main__":
    main()
