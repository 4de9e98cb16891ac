"""Verified evidence is immutable at the hub; tamper attempts are refused, logged and counted.

A file of a verified bundle is never replaced: the same file again is nothing to do, another one
(or a file the bundle does not have) is refused with a reason and recorded in the receiver's
`tamper` table.  A bundle is stored only under the id its signed manifest names, for the node it
names: a genuine bundle uploaded under another id or node is refused too.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import apsw

from ..util import sha256_file

log = logging.getLogger("edge.hub.receive")

TAMPER_SCHEMA = """
CREATE TABLE IF NOT EXISTS tamper (
    at REAL NOT NULL,
    node TEXT NOT NULL,
    bundle TEXT NOT NULL,
    name TEXT NOT NULL,
    client_id TEXT,
    reason TEXT NOT NULL
);
"""


class Immutability:
    """The rules above, over the receiver's database (its `bundles` table) and bundle folders."""

    def __init__(self, db: apsw.Connection, root: Path):
        self.db = db
        self.root = root
        with db:
            db.execute(TAMPER_SCHEMA)
        self.attempts = db.execute("SELECT count(*) FROM tamper").fetchone()[0]

    def state(self, node: str, bundle: str) -> str | None:
        row = self.db.execute("SELECT state FROM bundles WHERE node = ? AND bundle = ?", (node, bundle)).fetchone()
        return row[0] if row else None

    def refusal(self, meta: dict, sha256: str | None) -> str | None:
        """Why this file (an init's meta) may not be stored in its verified bundle, or None.
        `sha256` None: not known yet (an init without a checksum); decided again at fin."""
        node = meta["user_data"]["node"]
        bundle = safe_name(str(meta["user_data"].get("bundle", "loose")))
        if self.state(node, bundle) != "verified":
            return None
        target = self.root / "bundles" / safe_name(node) / bundle / safe_name(meta["name"])
        if not target.is_file():
            return f"refused: bundle {bundle} of {node} is verified and has no file {meta['name']}"
        if sha256 is not None and sha256 != sha256_file(target):
            return f"refused: bundle {bundle} of {node} is verified; its {meta['name']} cannot be replaced"
        return None

    def record(self, meta: dict, reason: str) -> None:
        user = meta.get("user_data", {})
        node, bundle = str(user.get("node")), str(user.get("bundle", "loose"))
        with self.db:
            self.db.execute("INSERT INTO tamper (at, node, bundle, name, client_id, reason) VALUES (?,?,?,?,?,?)",
                            (time.time(), node, bundle, str(meta.get("name")), str(user.get("client_id")), reason))
        self.attempts += 1
        log.error("receive: TAMPER ATTEMPT #%d on %s/%s/%s (client %s): %s", self.attempts, node, bundle,
                  meta.get("name"), user.get("client_id"), reason)

    def tampering(self) -> list[tuple]:
        return list(self.db.execute("SELECT node, bundle, name, client_id, reason FROM tamper ORDER BY at"))


def identity_problem(node: str, bundle: str, manifest: dict) -> str | None:
    """The signed manifest must name the bundle id and node it was uploaded as."""
    if manifest.get("bundle") != bundle:
        return f"manifest names bundle {manifest.get('bundle')!r}, uploaded as {bundle!r}"
    if manifest.get("node") != node:
        return f"manifest names node {manifest.get('node')!r}, uploaded for {node!r}"
    return None


def safe_name(name: str) -> str:
    """A file or folder name that cannot climb out of its folder."""
    cleaned = name.replace("/", "_").replace("\\", "_")
    return "_" + cleaned if cleaned in ("", ".", "..") or cleaned.startswith(".") else cleaned
