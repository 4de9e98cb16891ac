"""Pieces the field-loop tests share: model folder variants, an HTTP file server, simulator frames."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from edge.detect.model import sha256_file

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "models" / "default"


def renamed_copy(target: Path, name: str, version: str, source: Path = DEFAULT) -> Path:
    """The same network under another name and version (a stand-in for a release of it)."""
    shutil.copytree(source, target)
    for extra in ("manifest.sig",):
        (target / extra).unlink(missing_ok=True)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest.update(name=name, version=version)
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return target


def broken_copy(target: Path, source: Path = DEFAULT) -> Path:
    """A model that loads and runs but sees nothing: every weight zero, every bias -10 (a bad export)."""
    renamed_copy(target, "edge-default-broken", "99", source)
    model = onnx.load(str(target / "model.onnx"))
    for init in model.graph.initializer:
        if init.name.startswith("model."):
            arr = numpy_helper.to_array(init)
            value = np.full_like(arr, -10.0) if init.name.endswith(".bias") else np.zeros_like(arr)
            init.CopyFrom(numpy_helper.from_array(value, init.name))
    onnx.save(model, str(target / "model.onnx"))
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["sha256"] = sha256_file(target / "model.onnx")
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return target


class FileServer:
    """A real HTTP server on a free port serving FOLDER (the hub's file serving, for the node to fetch)."""

    def __init__(self, folder: Path):
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        handler.log_message = lambda *a, **k: None
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def sim_frames(scenario: str = "reservoir_day_busy_mixed.toml", indices=(40, 60, 80, 100)):
    """Rendered frames of a shipped scenario (objects in view) as edge Frames."""
    from edge.capture import Frame
    from simulator.render import Renderer
    from simulator.scenario import load_scenario

    r = Renderer(load_scenario(ROOT / "simulator" / "scenarios" / scenario))
    out = []
    for k, i in enumerate(indices):
        image = r.render(i).image
        out.append(Frame(image=image, seq=i, mono=1000.0 + k * 2.0, wall=1_780_000_000.0 + k * 2.0))
    return out
