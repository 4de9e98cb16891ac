"""Model folders for the nodes' rollout (edge.rollout): `GET /models/{name}/{file}`, with HTTP Range.

No session: a node has no console login, and it needs none here.  What it fetches is checked on the
node against the hub-signed manifest that came in the `model` command (signature, then the sha256
of model.onnx), so the transport and this server are not trusted with integrity.  Only the files of
a released model folder are served ([models] dir/NAME/: model.onnx, manifest.json, manifest.sig,
MODEL_CARD.md), and names are checked so that no path leaves that folder.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse

from .deps import Hub, hub

router = APIRouter(prefix="/models", tags=["models"])

FILES = {"model.onnx": "application/octet-stream", "manifest.json": "application/json",
         "manifest.sig": "text/plain", "MODEL_CARD.md": "text/markdown"}
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@router.get("/{name}/{file}")
def model_file(name: str, file: str, h: Hub = Depends(hub)) -> FileResponse:
    if not NAME.fullmatch(name) or ".." in name or file not in FILES:
        raise HTTPException(404, "no such model file")
    path = h.config.path(h.config.models.dir) / name / file
    if not path.is_file():
        raise HTTPException(404, f"no model file {name}/{file}")
    return FileResponse(path, media_type=FILES[file], headers={"Cache-Control": "no-cache"})
