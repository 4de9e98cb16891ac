"""The hub's verdict on an uploaded bundle (the signed `evidence_ack` command)."""

from __future__ import annotations

import logging

from ..link.commands import CommandRefused

log = logging.getLogger("edge.evidence")


def hub_verdict(store, upload_store, command, reply) -> None:
    """Verified, with our manifest's hash: the bundle counts as uploaded and retention may remove it.
    Rejected, or verified with another hash: it stays, and the log says why."""
    args = command.params  # edge.contract.commands.EvidenceAckArgs, checked by the router
    bundle, digest, verified = args.bundle, args.manifest_sha256, args.verified
    row = store.get(bundle)
    if row is None:
        raise CommandRefused(f"no evidence bundle {bundle!r} on this node")
    ours = verified and digest == row.manifest_sha256
    if upload_store is not None:
        upload_store.bundle_verdict(bundle, ours, args.reason)
    if ours:
        store.mark_acked(bundle)
        log.info("evidence: the hub verified bundle %s; retention may now remove it", bundle)
        reply(True, None, {"bundle": bundle, "acked": True})
    elif verified:
        log.error("evidence: the hub verified bundle %s with manifest %s, not ours (%s); keeping it", bundle,
                  str(digest)[:12], row.manifest_sha256[:12])
        reply(False, "manifest hash differs from this node's", None)
    else:
        log.error("evidence: the hub REJECTED bundle %s: %s; it stays here", bundle, args.reason)
        reply(True, None, {"bundle": bundle, "acked": False})
