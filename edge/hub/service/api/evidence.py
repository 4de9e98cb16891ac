"""Evidence: bundles, each one's manifest and verification result, and its files (with HTTP Range,
so a browser can seek in a clip)."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse

from .. import evidence as ev
from .deps import Hub, User, hub, viewer

router = APIRouter(prefix="/api/evidence", tags=["evidence"])


def _keys(h: Hub) -> Path:
    return h.config.path(h.config.evidence.node_keys) if h.config.evidence.node_keys else h.evidence_root / "node-keys"


@router.get("")
def bundles(node: str | None = None, h: Hub = Depends(hub), u: User = Depends(viewer)) -> dict:
    return {"items": ev.list_bundles(h.evidence_root, node)}


@router.get("/{node}/{bundle}")
def bundle(node: str, bundle: str, h: Hub = Depends(hub), u: User = Depends(viewer)) -> dict:
    out = ev.verification(h.evidence_root, _keys(h), node, bundle)
    if out is None:
        raise HTTPException(404, f"no evidence bundle {node}/{bundle}")
    return out


@router.get("/{node}/{bundle}/files/{name}")
def file(node: str, bundle: str, name: str, h: Hub = Depends(hub), u: User = Depends(viewer)) -> FileResponse:
    path = ev.file_of(h.evidence_root, node, bundle, name)
    if path is None:
        raise HTTPException(404, f"no file {name} in {node}/{bundle}")
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=kind, headers={"Cache-Control": "private, max-age=3600"})
