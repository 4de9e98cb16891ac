"""Model folders: model.onnx + labels.txt + manifest.json, checked before anything runs.

A model that is truncated, corrupt or not the one the manifest describes must stop the node at
start-up with one clear line, never fail in the middle of a night's watch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..contract.errors import field_error
from ..util import sha256_file

MANIFEST = "manifest.json"
LABELS = "labels.txt"


class ModelError(Exception):
    """A model folder that cannot be used; the message is one line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LetterboxSpec(_Strict):
    pad_value: int = Field(default=114, ge=0, le=255)
    center: bool = True


class InputSpec(_Strict):
    name: str | None = None
    # The size the picture is fed at; for a dynamic-shape export, the size fixed at import.
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    color: Literal["RGB", "BGR"] = "RGB"
    scale: float = Field(default=1 / 255, gt=0)
    # YOLO exports: float (1, 3, H, W), letterboxed.  TF Object Detection API: uint8 (1, H, W, 3),
    # stretched.  Ultralytics RT-DETR: float NCHW, stretched (its predictor's scale_fill).
    tensor: Literal["NCHW", "NHWC"] = "NCHW"
    dtype: Literal["float32", "uint8"] = "float32"
    resize: Literal["letterbox", "stretch"] = "letterbox"
    letterbox: LetterboxSpec = Field(default_factory=LetterboxSpec)

    @model_validator(mode="after")
    def _uint8_is_unscaled(self) -> InputSpec:
        if self.dtype == "uint8" and self.scale != 1:
            raise ValueError("a uint8 input takes the pixels as they are: scale must be 1")
        return self


class SsdOutputs(_Strict):
    """Which output tensor is which, for SSD-style (TF Object Detection API) models."""

    boxes: str  # (1, N, 4) normalised y1, x1, y2, x2
    scores: str  # (1, N)
    classes: str  # (1, N) class ids, `label_offset` based
    count: str | None = None  # (1,) number of valid rows


class OutputSpec(_Strict):
    layout: Literal["auto", "yolov5", "yolov8", "end2end", "rtdetr", "rtdetr_topk", "ssd"] = "auto"
    # Suppress duplicates after decoding.  None: what the layout needs (yes for yolov5/yolov8, whose
    # heads predict many boxes per object; no for end2end, rtdetr(_topk) and ssd, which did it inside).
    nms: bool | None = None
    label_offset: int = Field(default=0, ge=0)  # TF-OD API class ids start at 1 (0 is background)
    ssd: SsdOutputs | None = None


class Manifest(_Strict):
    name: str
    version: str = "1"
    file: str = "model.onnx"
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    input: InputSpec
    output: OutputSpec = Field(default_factory=OutputSpec)
    classes: tuple[str, ...] = Field(min_length=1)
    training: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)


class ModelFolder:
    def __init__(self, path: Path, manifest: Manifest):
        self.path = path
        self.manifest = manifest

    @property
    def onnx_path(self) -> Path:
        return self.path / self.manifest.file

    @property
    def classes(self) -> tuple[str, ...]:
        return self.manifest.classes


def read_manifest(folder: str | Path) -> Manifest:
    folder = Path(folder)
    path = folder / MANIFEST
    if not folder.is_dir():
        raise ModelError(f"{folder}: not a model folder (expected a folder with model.onnx, labels.txt, manifest.json)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: missing; create it with `edge-node model import`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: unreadable: {exc}") from None
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise ModelError(f"{path}: {field_error(exc)}") from None


def load_model_folder(folder: str | Path, *, verify: bool = True) -> ModelFolder:
    """Read the manifest, check labels agree with it and (by default) the model's sha256."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    model = ModelFolder(folder, manifest)
    labels_path = folder / LABELS
    if labels_path.exists():
        labels = tuple(line.strip() for line in labels_path.read_text(encoding="utf-8").splitlines() if line.strip())
        if labels != manifest.classes:
            raise ModelError(f"{labels_path}: labels differ from the manifest's classes {list(manifest.classes)}")
    onnx_path = model.onnx_path
    if not onnx_path.is_file():
        raise ModelError(f"{onnx_path}: model file missing")
    if verify:
        actual = sha256_file(onnx_path)
        if actual != manifest.sha256:
            raise ModelError(
                f"{onnx_path}: sha256 {actual[:12]}... does not match the manifest's {manifest.sha256[:12]}... "
                "(the file is truncated, corrupt or not the model the manifest describes)"
            )
    return model


def write_model_folder(folder: Path, onnx_bytes_path: Path, manifest: Manifest) -> None:
    """Write manifest.json and labels.txt next to an ONNX file (used by `edge-node model import`)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / manifest.file
    if onnx_bytes_path.resolve() != target.resolve():
        target.write_bytes(onnx_bytes_path.read_bytes())
    (folder / LABELS).write_text("".join(f"{c}\n" for c in manifest.classes), encoding="utf-8")
    (folder / MANIFEST).write_text(json.dumps(manifest.model_dump(), indent=2, ensure_ascii=False) + "\n",
                                   encoding="utf-8")
