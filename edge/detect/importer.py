"""`edge-node model import`: make a model folder from any common detection export.

What the output is comes from the model's own metadata where there is some (Ultralytics writes
`names`, `imgsz`, `task`, `end2end`, `args` into every ONNX export); the output shape is only the
fallback, and an ambiguous shape is an error asking for `--layout`.  A dynamic-shape export is fixed
here to one size (the user's, else the metadata's `imgsz`): the manifest records it and the node
always feeds that size; the ONNX file itself is kept byte for byte, so its sha256 is the one its
publisher gave.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import numpy as np

from .decode import LayoutError, check_layout, detect_layout
from .model import Manifest, ModelError, load_model_folder, sha256_file, write_model_folder

_DTYPES = {"tensor(float)": "float32", "tensor(uint8)": "uint8"}


def parse_size(text: str) -> tuple[int, int]:
    """'640' or '640x480' (W x H) -> (width, height)."""
    try:
        parts = [int(v) for v in text.lower().replace(",", "x").split("x")]
    except ValueError:
        raise ModelError(f"--imgsz {text!r}: expected N or WxH, e.g. 640 or 640x480") from None
    if len(parts) not in (1, 2) or min(parts) <= 0:
        raise ModelError(f"--imgsz {text!r}: expected N or WxH, e.g. 640 or 640x480")
    return (parts[0], parts[-1])


def read_metadata(session) -> dict[str, Any]:
    """The export's metadata, literal values parsed (Ultralytics writes Python reprs)."""
    raw = dict(session.get_modelmeta().custom_metadata_map)
    meta: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            meta[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            meta[key] = value
    return meta


def names_from_metadata(meta: dict[str, Any]) -> list[str] | None:
    names = meta.get("names")
    if isinstance(names, dict) and names:
        try:
            return [str(names[i]) for i in range(len(names))]
        except KeyError:
            raise ModelError(f"metadata names {names!r} are not indexed 0..{len(names) - 1}") from None
    if isinstance(names, list | tuple) and names:
        return [str(n) for n in names]
    return None


def layout_from_metadata(meta: dict[str, Any]) -> str | None:
    """What an Ultralytics (or YOLOv5-repo) export's metadata says its output is; None when it says nothing."""
    task = meta.get("task")
    if task is not None and task != "detect":
        raise ModelError(f"the model's metadata says task={task!r}; only detection models can be imported")
    text = f"{meta.get('description', '')} {meta.get('author', '')}"
    if "rt-detr" in text.lower() or "rtdetr" in text.lower():
        return "rtdetr"
    args = meta.get("args") if isinstance(meta.get("args"), dict) else {}
    if "ultralytics" not in text.lower() and task is None:
        return None
    if meta.get("end2end") is True or args.get("nms") is True:
        return "end2end"
    return "yolov8"


def _ssd_outputs(outputs: list[tuple[str, tuple[int, ...]]], path: Path) -> dict[str, str | None]:
    boxes = [n for n, s in outputs if len(s) == 3 and s[-1] == 4]
    count = [n for n, s in outputs if len(s) == 1]
    flat = [n for n, s in outputs if len(s) == 2]
    scores = [n for n in flat if "score" in n.lower()]
    classes = [n for n in flat if "class" in n.lower() or "label" in n.lower()]
    if len(boxes) != 1 or len(scores) != 1 or len(classes) != 1 or len(count) > 1:
        raise ModelError(f"{path}: cannot tell which SSD output is boxes (1,N,4), scores, classes and count "
                         f"from {', '.join(f'{n} {list(s)}' for n, s in outputs)}; name them *boxes*, "
                         "*scores*, *classes*, *num_detections* when exporting")
    return {"boxes": boxes[0], "scores": scores[0], "classes": classes[0], "count": count[0] if count else None}


def import_model(onnx_path: str | Path, out: str | Path, *, labels_path: str | Path | None = None,
                 name: str | None = None, layout: str = "auto", color: str | None = None,
                 imgsz: tuple[int, int] | None = None, nms: bool | None = None,
                 label_offset: int | None = None) -> Manifest:
    """Make a model folder from an ONNX export (and a labels file, unless the metadata has `names`)."""
    import onnxruntime as ort

    onnx_path, out = Path(onnx_path), Path(out)
    if not onnx_path.is_file():
        raise ModelError(f"{onnx_path}: no such file")
    try:
        session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError(f"{onnx_path}: onnxruntime cannot load it: {str(exc).splitlines()[0]}") from None
    meta = read_metadata(session)
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ModelError(f"{onnx_path}: expected one input, the model has {len(inputs)}")
    spec = inputs[0]
    dtype = _DTYPES.get(spec.type)
    if dtype is None:
        raise ModelError(f"{onnx_path}: input type {spec.type} is not float32 or uint8")
    shape = list(spec.shape)
    if len(shape) != 4:
        raise ModelError(f"{onnx_path}: input shape {shape} is not an image batch (1, 3, H, W) or (1, H, W, 3)")
    nhwc = shape[3] == 3 and shape[1] != 3
    hw = (shape[1], shape[2]) if nhwc else (shape[2], shape[3])
    width, height = _input_size(onnx_path, hw, imgsz, meta)

    labels = read_labels(Path(labels_path)) if labels_path is not None else names_from_metadata(meta)
    if not labels:
        raise ModelError(f"{onnx_path}: the model's metadata has no class names; give --labels FILE")

    feed = np.zeros((1, height, width, 3) if nhwc else (1, 3, height, width), dtype)
    try:
        raw = session.run(None, {spec.name: feed})
    except Exception as exc:
        raise ModelError(f"{onnx_path}: does not run at {width}x{height}: {str(exc).splitlines()[0]}") from None
    outputs = [(o.name, tuple(r.shape)) for o, r in zip(session.get_outputs(), raw, strict=True)]
    shapes = [s for _, s in outputs]
    try:
        if layout == "auto":
            named = layout_from_metadata(meta)
            if named == "rtdetr" and _rtdetr_topk(shapes[0], len(labels), meta):
                named = "rtdetr_topk"
            found = check_layout(named, shapes, len(labels)) if named else detect_layout(shapes, len(labels))
        else:
            found = check_layout(layout, shapes, len(labels))
    except LayoutError as exc:
        raise ModelError(f"{onnx_path}: {exc}") from None

    ssd = _ssd_outputs(outputs, onnx_path) if found == "ssd" else None
    stretch = found in ("ssd", "rtdetr", "rtdetr_topk")  # how both are trained and how their reference predicts
    output: dict[str, Any] = {"layout": found}
    if nms is not None:
        output["nms"] = nms
    if found == "ssd":
        output["ssd"] = ssd
        output["label_offset"] = 1 if label_offset is None else label_offset
    elif label_offset:
        output["label_offset"] = label_offset
    source: dict[str, Any] = {"source": f"imported from {onnx_path.name}", "input_shape": shape,
                              "outputs": {n: list(s) for n, s in outputs}}
    for key in ("description", "author", "version", "license", "date", "stride", "imgsz"):
        if key in meta:
            source[f"export_{key}"] = meta[key]
    manifest = Manifest(
        name=name or onnx_path.stem, file="model.onnx", sha256=sha256_file(onnx_path),
        input={"name": spec.name, "width": width, "height": height, "color": color or "RGB",
               "scale": 1.0 if dtype == "uint8" else 1 / 255, "tensor": "NHWC" if nhwc else "NCHW",
               "dtype": dtype, "resize": "stretch" if stretch else "letterbox"},
        output=output, classes=tuple(labels), training=source,
    )
    write_model_folder(out, onnx_path, manifest)
    load_model_folder(out)  # what was written must load
    return manifest


def _rtdetr_topk(shape: tuple[int, ...], num_classes: int, meta: dict[str, Any]) -> bool:
    """Ultralytics 8.4 exports RT-DETR already reduced to (1, K, 6) score + class; earlier ones (1, K, 4+C)."""
    if len(shape) != 3 or shape[-1] != 6:
        return False
    if num_classes != 2:
        return True
    try:
        major, minor = (int(v) for v in str(meta.get("version", "0.0")).split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (8, 4)


def _input_size(path: Path, hw: tuple, imgsz: tuple[int, int] | None, meta: dict) -> tuple[int, int]:
    """(width, height) to feed: the fixed size, else --imgsz, else the metadata's imgsz."""
    fixed = all(isinstance(v, int) and v > 0 for v in hw)
    if fixed:
        if imgsz is not None and imgsz != (hw[1], hw[0]):
            raise ModelError(f"{path}: the input is fixed at {hw[1]}x{hw[0]} (WxH); --imgsz {imgsz[0]}x{imgsz[1]} "
                             "cannot change it (export again at that size)")
        return hw[1], hw[0]
    if imgsz is not None:
        return imgsz
    size = meta.get("imgsz")
    if isinstance(size, list | tuple) and len(size) == 2 and all(isinstance(v, int) for v in size):
        return int(size[1]), int(size[0])  # Ultralytics writes [h, w]
    if isinstance(size, int):
        return size, size
    raise ModelError(f"{path}: the input size is dynamic ({list(hw)}) and the metadata has no imgsz; "
                     "give --imgsz N or WxH (the size the model was trained at)")


def read_labels(path: Path) -> list[str]:
    """labels.txt (one per line), or the `names:` of an Ultralytics data YAML (list or index map)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: cannot read labels: {exc}") from None
    if path.suffix in (".yaml", ".yml"):
        names: list[str] = []
        inside = False
        for line in text.splitlines():
            if line.startswith("names:"):
                inside = True
                rest = line[len("names:"):].strip()
                if rest.startswith("["):
                    return [n.strip().strip("'\"") for n in rest.strip("[]").split(",") if n.strip()]
                continue
            if inside:
                if not line.startswith((" ", "\t", "-")):
                    break
                item = line.strip().lstrip("-").strip()
                if ":" in item and item.split(":", 1)[0].strip().isdigit():
                    item = item.split(":", 1)[1].strip()
                if item:
                    names.append(item.strip("'\""))
        if not names:
            raise ModelError(f"{path}: no `names:` list found")
        return names
    labels = [line.strip() for line in text.splitlines() if line.strip()]
    if not labels:
        raise ModelError(f"{path}: no labels")
    return labels
