"""Evidence at the hub: the bundles `edge-hub receive`'s Receiver writes (bundles/NODE/BUNDLE/ and
its receive.db), read here for the API: the manifest, the verification result (signature, place in
the node's chain, every file's hash, checked again on each request) and the files themselves."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import apsw

from ...crypto import KeyFileError, load_public_key, verify
from ...evidence.files import sha256_of
from ...evidence.manifest import MANIFEST, SIGNATURE


def _rows(root: Path, sql: str, params: tuple = ()) -> list[tuple]:
    path = root / "receive.db"
    if not path.exists():
        return []
    db = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    try:
        db.setbusytimeout(5000)
        return list(db.execute(sql, params))
    except apsw.SQLError:
        return []  # the receiver has not made its table yet
    finally:
        db.close()


def list_bundles(root: Path, node: str | None = None, limit: int = 200) -> list[dict]:
    sql = "SELECT node, bundle, seq, manifest_sha256, state, reason, received FROM bundles"
    params: tuple = ()
    if node:
        sql += " WHERE node = ?"
        params = (node,)
    rows = _rows(root, sql + " ORDER BY received DESC LIMIT ?", (*params, limit))
    return [dict(zip(("node", "bundle", "seq", "manifest_sha256", "state", "reason", "received"), r, strict=True))
            for r in rows]


def bundles_by_manifest(root: Path, node: str, hashes: set[str]) -> list[dict]:
    if not hashes:
        return []
    marks = ", ".join("?" for _ in hashes)
    rows = _rows(root, f"SELECT bundle, seq, state FROM bundles WHERE node = ? AND manifest_sha256 IN ({marks})",
                 (node, *sorted(hashes)))
    return [{"node": node, "bundle": b, "seq": s, "state": st} for b, s, st in rows]


def folder_of(root: Path, node: str, bundle: str) -> Path | None:
    base = (root / "bundles").resolve()
    folder = (base / node / bundle).resolve()
    if folder.parent.parent != base or not folder.is_dir():
        return None
    return folder


def file_of(root: Path, node: str, bundle: str, name: str) -> Path | None:
    folder = folder_of(root, node, bundle)
    if folder is None:
        return None
    path = (folder / name).resolve()
    return path if path.parent == folder and path.is_file() else None


def verification(root: Path, node_keys: Path, node: str, bundle: str) -> dict | None:
    """The receiver's verdict, and the checks made again now: signature, chain, every file."""
    folder = folder_of(root, node, bundle)
    row = _rows(root, "SELECT seq, manifest_sha256, previous, state, reason FROM bundles WHERE node = ? AND "
                "bundle = ?", (node, bundle))
    if folder is None and not row:
        return None
    out: dict = {"node": node, "bundle": bundle, "received_state": row[0][3] if row else "incomplete",
                 "reason": row[0][4] if row else None}
    if folder is None or not (folder / MANIFEST).exists():
        out.update(verified=False, problem="manifest not received yet")
        return out
    data = (folder / MANIFEST).read_bytes()
    try:
        manifest = json.loads(data)
    except ValueError:
        out.update(verified=False, problem="manifest is not JSON")
        return out
    out["manifest"] = manifest
    out["manifest_sha256"] = hashlib.sha256(data).hexdigest()
    try:
        key = load_public_key(node_keys / f"{node}.pub")
        sig = (folder / SIGNATURE).read_bytes() if (folder / SIGNATURE).exists() else b""
        out["signature"] = {"ok": bool(sig) and verify(key, sig, data), "key": f"{node}.pub"}
    except KeyFileError as exc:
        out["signature"] = {"ok": False, "problem": str(exc).replace(str(node_keys) + "/", "")}
    seq = manifest.get("sequence")
    before = _rows(root, "SELECT bundle, manifest_sha256 FROM bundles WHERE node = ? AND seq = ? AND state = "
                   "'verified'", (node, (seq or 0) - 1))
    out["chain"] = {"sequence": seq, "previous": manifest.get("previous"),
                    "previous_bundle": before[0][0] if before else None,
                    "follows_previous": (before[0][1] == manifest.get("previous")) if before else None}
    files = []
    for entry in manifest.get("files", []):
        path = folder / entry["name"]
        actual = sha256_of(path) if path.is_file() else None
        files.append({"name": entry["name"], "kind": entry.get("kind"), "bytes": entry.get("bytes"),
                      "sha256": entry.get("sha256"), "actual_sha256": actual, "ok": actual == entry.get("sha256")})
    out["files"] = files
    out["verified"] = (out["signature"]["ok"] and all(f["ok"] for f in files)
                       and out["chain"]["follows_previous"] is not False and out["received_state"] == "verified")
    return out
