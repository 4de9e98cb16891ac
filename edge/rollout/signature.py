"""The hub's signature over a model folder's manifest.json (which holds the sha256 of the ONNX file).

Why the manifest and not the ONNX: the manifest names the file's hash, so one small signature covers
the whole folder, and a node can check it before it downloads megabytes from anywhere.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..crypto import b64, sign, unb64, verify
from ..detect.model import MANIFEST, Manifest, ModelError

SIGNATURE = "manifest.sig"  # base64 Ed25519 signature over the exact bytes of manifest.json


class RolloutError(Exception):
    """One line saying why a model was not taken."""


def sign_manifest(folder: str | Path, key) -> str:
    """Sign FOLDER/manifest.json with the hub key; writes FOLDER/manifest.sig and returns the signature."""
    from ..detect.model import load_model_folder

    folder = Path(folder)
    load_model_folder(folder)  # the ONNX must be the one the manifest names before anyone signs it
    signature = b64(sign(key, (folder / MANIFEST).read_bytes()))
    (folder / SIGNATURE).write_text(signature + "\n", encoding="ascii")
    return signature


def verify_manifest(manifest_text: str, signature: str, hub_key) -> Manifest:
    """The manifest, if the hub signed exactly these bytes; RolloutError otherwise."""
    if hub_key is None:
        raise RolloutError("no hub public key on this node: models cannot be verified")
    try:
        sig = unb64(signature.strip())
    except ValueError:
        raise RolloutError("model signature is not base64") from None
    data = manifest_text.encode("utf-8")
    if not verify(hub_key, sig, data):
        raise RolloutError("model manifest signature does not verify (not signed by this node's hub, or changed)")
    try:
        return Manifest.model_validate(json.loads(data))
    except (ValueError, ModelError) as exc:
        raise RolloutError(f"signed manifest is not a model manifest: {str(exc).splitlines()[0]}") from None
