"""Checking evidence after the fact, and handing it over: `edge-node evidence verify|export`."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from .manifest import MANIFEST, SIGNATURE, BundleProblem, verify_bundle
from .store import EvidenceStore


@dataclass(frozen=True)
class Verdict:
    bundle: str
    ok: bool
    problem: str | None = None


def verify_store(store: EvidenceStore, public_key, bundle_id: str | None = None) -> list[Verdict]:
    """Every kept bundle (or one): files, signature, and its link in the node's chain."""
    import hashlib

    chain = {seq: (bundle, sha, previous) for seq, bundle, sha, previous in store.chain()}
    verdicts = []
    for seq in sorted(chain):  # the chain table itself must be unbroken
        expected = chain[seq - 1][1] if seq - 1 in chain else None
        if chain[seq][2] != expected:
            verdicts.append(Verdict(chain[seq][0], False, f"chain: bundle #{seq} does not follow bundle #{seq - 1}"))
    for row in store.rows():
        if bundle_id is not None and row.id != bundle_id:
            continue
        folder = store.folder(row.id)
        if row.state != "sealed":
            verdicts.append(Verdict(row.id, False, f"{folder}: not sealed (being written, or left by a crash: "
                                                   "start the node to recover it)"))
            continue
        previous = chain[row.seq - 1][1] if row.seq - 1 in chain else None
        try:
            verify_bundle(folder, public_key, previous=previous)
            digest = hashlib.sha256((folder / MANIFEST).read_bytes()).hexdigest()
            if digest != row.manifest_sha256:
                raise BundleProblem(f"{folder / MANIFEST}: not the manifest that was sealed (index says "
                                    f"{row.manifest_sha256[:12]}...)")
        except BundleProblem as exc:
            verdicts.append(Verdict(row.id, False, str(exc)))
            continue
        verdicts.append(Verdict(row.id, True))
    return verdicts


README = """Evidence bundle {bundle}
Node: {node}    Rule: {rule} ({kind})    Zone: {zone}
Started: {started}    Alert: {confirmed}    Ended: {ended}

This folder is self-contained.  To check that nothing in it was changed since the node sealed it:

1. The manifest was signed by the node (its public key is node.pub):

       openssl pkeyutl -verify -pubin -inkey node.pub -rawin -in manifest.json -sigfile manifest.sig

   prints "Signature Verified Successfully".  (OpenSSL 3.0 or newer; Ed25519.)

2. Every file has the SHA-256 and size the manifest lists; SHA256SUMS holds the same hashes in the
   format sha256sum reads:

       sha256sum -c SHA256SUMS

   prints OK for every file.  To confirm SHA256SUMS agrees with the signed manifest:

       python3 -c "import json; [print(f['sha256'] + '  ' + f['name']) for f in json.load(open('manifest.json'))['files']]" | diff - SHA256SUMS

   prints nothing.

3. manifest.json names the previous bundle's manifest hash ("previous") and its place in the
   node's sequence ("sequence"): a missing or altered earlier bundle breaks that chain, which
   `edge-node evidence verify --all` checks on the node and the hub checks on receipt.

Files: {files}
"""


def export_bundle(store: EvidenceStore, bundle_id: str, public_key_path: Path, out: Path) -> Path:
    import json

    row = store.get(bundle_id)
    if row is None or row.deleted:
        raise FileNotFoundError(f"no bundle {bundle_id}")
    if row.state != "sealed":
        raise BundleProblem(f"bundle {bundle_id} is not sealed yet")
    source = store.folder(bundle_id)
    out.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((source / MANIFEST).read_text())
    for entry in manifest["files"]:
        shutil.copy2(source / entry["name"], out / entry["name"])
    for name in (MANIFEST, SIGNATURE):
        shutil.copy2(source / name, out / name)
    shutil.copy2(public_key_path, out / "node.pub")
    (out / "SHA256SUMS").write_text("".join(f"{f['sha256']}  {f['name']}\n" for f in manifest["files"]))
    (out / "README.txt").write_text(README.format(
        bundle=bundle_id, node=manifest.get("node"), rule=manifest.get("rule"), kind=manifest.get("kind"),
        zone=manifest.get("zone"), started=manifest.get("started_at"), confirmed=manifest.get("confirmed_at"),
        ended=manifest.get("ended_at"), files=", ".join(f["name"] for f in manifest["files"])))
    return out
