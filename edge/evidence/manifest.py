"""Bundle manifests: what is in a bundle, signed by the node, chained to the bundle before it.

manifest.json lists every file with its SHA-256 and size, the facts of the violation, the model and
configuration in use, and the SHA-256 of the previous bundle's manifest.json, so bundles cannot be
removed, reordered or altered without breaking the chain.  manifest.sig is the node's Ed25519
signature over the exact bytes of manifest.json, checkable with standard tools:

    openssl pkeyutl -verify -pubin -inkey node.pub -rawin -in manifest.json -sigfile manifest.sig
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..crypto import sign, verify
from .files import sha256_of, write_atomic

FORMAT = "edge-evidence/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"


def file_entry(folder: Path, name: str, kind: str, **extra) -> dict:
    path = folder / name
    return {"name": name, "kind": kind, "sha256": sha256_of(path), "bytes": path.stat().st_size, **extra}


def encode(manifest: dict) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def seal(folder: Path, manifest: dict, key) -> str:
    """Write manifest.json and manifest.sig (each atomically); return the manifest's SHA-256."""
    data = encode(manifest)
    write_atomic(folder / MANIFEST, data)
    write_atomic(folder / SIGNATURE, sign(key, data))
    return hashlib.sha256(data).hexdigest()


class BundleProblem(Exception):
    """The first thing wrong with a bundle, naming the file."""


def verify_bundle(folder: Path, public_key, previous: str | None | bool = False) -> dict:
    """Check every file's hash and size, the signature, and (unless previous is False) the chain link.

    Returns the manifest; raises BundleProblem naming the first bad file.
    """
    mpath, spath = folder / MANIFEST, folder / SIGNATURE
    try:
        data = mpath.read_bytes()
    except FileNotFoundError:
        raise BundleProblem(f"{mpath}: missing") from None
    try:
        signature = spath.read_bytes()
    except FileNotFoundError:
        raise BundleProblem(f"{spath}: missing") from None
    if not verify(public_key, signature, data):
        raise BundleProblem(f"{mpath}: signature does not verify ({spath.name} or the manifest was changed)")
    try:
        manifest = json.loads(data)
    except ValueError:
        raise BundleProblem(f"{mpath}: not JSON") from None
    listed = set()
    for entry in manifest.get("files", []):
        path = folder / entry["name"]
        listed.add(entry["name"])
        if not path.is_file():
            raise BundleProblem(f"{path}: missing")
        if path.stat().st_size != entry["bytes"]:
            raise BundleProblem(f"{path}: size {path.stat().st_size} differs from the manifest's {entry['bytes']}")
        if sha256_of(path) != entry["sha256"]:
            raise BundleProblem(f"{path}: sha256 differs from the manifest")
    extra = sorted(p.name for p in folder.iterdir() if p.name not in listed | {MANIFEST, SIGNATURE})
    if extra:
        raise BundleProblem(f"{folder / extra[0]}: not listed in the manifest")
    if previous is not False and manifest.get("previous") != previous:
        raise BundleProblem(f"{mpath}: chain broken: previous manifest should be {previous}, "
                            f"the manifest says {manifest.get('previous')}")
    return manifest
