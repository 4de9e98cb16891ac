"""Ed25519 keys, signatures and the canonical JSON they are computed over.

Node keys sign evidence manifests; the hub key signs commands.  Keys are PEM files (PKCS#8 private,
SubjectPublicKeyInfo public) so standard tools can use them: `openssl pkeyutl -verify -rawin`.
Private keys are written 0600, through a temporary file, and never logged.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class KeyFileError(Exception):
    """A key file that is missing or not an Ed25519 key."""


def canonical_json(obj) -> bytes:
    """Sorted keys, no spaces, UTF-8: the bytes a signature covers."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def _write_private(path: Path, data: bytes) -> None:
    from .util import write_atomic

    write_atomic(path, data, 0o600, mkdir=True)


def generate_keypair(private_path: Path, public_path: Path, *, overwrite: bool = False) -> Ed25519PrivateKey:
    if private_path.exists() and not overwrite:
        raise FileExistsError(f"{private_path} exists; refusing to replace a key (use --force)")
    key = Ed25519PrivateKey.generate()
    _write_private(private_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
    public_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.write_bytes(public_pem(key.public_key()))
    return key


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no such key file") from None
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not a PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 key")
    return key


def load_public_key(path: str | Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no such key file") from None
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path}: not a PEM public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path}: not an Ed25519 key")
    return key


def sign(key: Ed25519PrivateKey, data: bytes) -> bytes:
    return key.sign(data)


def verify(key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        key.verify(signature, data)
    except InvalidSignature:
        return False
    return True
