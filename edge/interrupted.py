"""Violations an interruption left open: closed at the next start.

A kill -9 or a power cut ends the node with violations open (a `warning` or an `alert` logged, no
`cleared`).  At start-up each gets its `cleared`: reason `restart`, `ended_at` the time of its last
message (the node cannot tell when it really ended), and the hash of its bundle, which the
evidence store sealed as incomplete at the same start.  So the hub never keeps a violation open.
"""

from __future__ import annotations

from datetime import UTC, datetime


def open_at_stop(events: list[dict]) -> list[dict]:
    """The last message of every violation whose last logged stage is not `cleared`, in log order."""
    last: dict[str, dict] = {}
    for event in events:
        if isinstance(event.get("id"), str) and event.get("stage") in ("warning", "alert", "cleared"):
            last.pop(event["id"], None)
            last[event["id"]] = event  # re-inserted: the dict keeps the order of last messages
    return [e for e in last.values() if e["stage"] != "cleared"]


def restart_cleared(last: dict, now_wall: float, evidence_row=None) -> dict:
    """The `cleared` message for a violation whose last logged message was `last`; `evidence_row`
    (an EvidenceStore row, or None) gives the sealed bundle's hash."""
    try:
        offset = datetime.fromisoformat(last["ts"]).tzinfo
    except (KeyError, TypeError, ValueError):
        offset = None
    message = dict(last)
    message.update(stage="cleared", reason="restart", ended_at=last.get("ts"), evidence=None,
                   ts=datetime.fromtimestamp(now_wall, offset or UTC).isoformat(timespec="milliseconds"))
    if evidence_row is not None and evidence_row.state == "sealed" and evidence_row.manifest_sha256:
        message["evidence"] = evidence_row.manifest_sha256
        message["snapshot"] = last.get("snapshot") or f"{last['id']}/snapshot_best.jpg"
    return message
