"""`dataset pull`: the kept frames not sent yet, packed as one upload for the hub.

A pack is a folder like an evidence bundle (manifest.json listing each file's size and SHA-256,
manifest.sig by the node key) so the evidence uploader sends it in resumable, checksummed segments
and the hub can check it came whole from this node.  Its manifest says "kind": "dataset": the hub
files it as training data, never as evidence (no chain, no immutability, no verdict).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

from ..crypto import sign
from ..util import write_atomic
from .capture import replace_json


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_pack(capture, key, *, max_frames: int = 500, hard_negatives: set[str] = frozenset()) -> tuple[Path, str, int]:
    """Pack up to MAX_FRAMES frames not pulled before; returns (folder, manifest sha256, frames)."""
    if hard_negatives:
        capture.mark_hard_negatives(set(hard_negatives))
    root = capture.folder.parent
    sent_p = root / "pulled.json"
    sent = set(json.loads(sent_p.read_text())) if sent_p.exists() else set()
    todo = [jpg for jpg, _ in capture.frames if jpg.stem not in sent][:max_frames]
    # Hard negatives marked since an earlier pull go again: their flag is news for the hub.
    todo += [jpg for jpg, _ in capture.frames if jpg.stem in sent and jpg.stem not in {p.stem for p in todo}
             and json.loads(jpg.with_suffix(".json").read_text()).get("hard_negative")
             and not json.loads(jpg.with_suffix(".json").read_text()).get("hard_negative_sent")][:max_frames]
    pack_id = f"dataset-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.urandom(3).hex()}"
    folder = root / "packs" / pack_id
    folder.mkdir(parents=True)
    files = []
    for jpg in todo:
        for src in (jpg, jpg.with_suffix(".json")):
            dst = folder / src.name
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy2(src, dst)
            files.append({"name": src.name, "bytes": dst.stat().st_size, "sha256": _sha256(dst), "kind": "file"})
    manifest = {"kind": "dataset", "bundle": pack_id, "node": capture.node, "site": capture.site,
                "created": time.time(), "sequence": 0, "frames": len(todo), "files": files}
    data = json.dumps(manifest, indent=1).encode()
    (folder / "manifest.json").write_bytes(data)
    (folder / "manifest.sig").write_bytes(sign(key, data))
    sent |= {p.stem for p in todo}
    write_atomic(sent_p, json.dumps(sorted(sent)))
    for jpg in todo:
        side_p = jpg.with_suffix(".json")
        side = json.loads(side_p.read_text())
        if side.get("hard_negative") and not side.get("hard_negative_sent"):
            side["hard_negative_sent"] = True
            replace_json(side_p, side)  # a new file: the pack holds a hard link to the old one
    return folder, hashlib.sha256(data).hexdigest(), len(todo)


def prune_packs(capture, upload_store) -> int:
    """Packs the receiver has stored whole ('sent' or beyond) are deleted; their frames stay until rotated."""
    removed = 0
    for folder in sorted((capture.folder.parent / "packs").glob("dataset-*")):
        state = upload_store.bundle_state(folder.name) if upload_store is not None else None
        if state in ("sent", "verified", "rejected"):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed
