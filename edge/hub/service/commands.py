"""Commands from the console: validated by the contract's argument models, signed with the hub key
(edge.link.commands.make_command, the same envelope `edge-hub command` sends), recorded, and
tracked until the node's `cmd_result` arrives (ingest updates the row)."""

from __future__ import annotations

import json
import time

from pydantic import BaseModel

from ...contract.messages import ConfigArgs, PingArgs, SnapshotArgs, SpeakArgs, ZoneArgs
from ...link.commands import make_command
from .db import Tx
from .events import emit

ARGS: dict[str, type[BaseModel]] = {"speak": SpeakArgs, "snapshot": SnapshotArgs, "zone": ZoneArgs,
                                    "config": ConfigArgs, "ping": PingArgs}
COLUMNS = ("id", "node", "name", "args", "issued_by", "issued_at", "incident", "state", "ok", "error", "data",
           "result_at")


def node_args(name: str, args: BaseModel) -> dict:
    """The arguments as the node reads them."""
    return args.model_dump(exclude_none=True)


def issue(tx: Tx, key, node: str, name: str, args: BaseModel, actor: str, *, incident: int | None = None,
          lifetime_s: float = 120.0) -> dict:
    """Record and sign one command; the caller publishes the envelope after the commit."""
    envelope = make_command(key, node, name, node_args(name, args), lifetime_s=lifetime_s)
    tx.execute("INSERT INTO commands (id, node, name, args, issued_by, issued_at, incident, state) VALUES "
               "(?, ?, ?, ?, ?, ?, ?, 'sent')",
               (envelope["id"], node, name, json.dumps(envelope["args"]), actor, time.time(), incident))
    if incident is not None:
        tx.execute("INSERT INTO audit (incident, at, actor, from_state, to_state, comment) SELECT id, ?, ?, state, "
                   "state, ? FROM incidents WHERE id = ?",
                   (time.time(), actor, f"command {name} {json.dumps(envelope['args'], ensure_ascii=False)} "
                    f"to {node} ({envelope['id']})", incident))
    emit(tx, "command", {"id": envelope["id"], "node": node, "name": name, "state": "sent"})
    return envelope


def as_dict(row: tuple) -> dict:
    out = dict(zip(COLUMNS, row, strict=True))
    out["args"] = json.loads(out["args"])
    out["data"] = json.loads(out["data"]) if out["data"] else None
    out["ok"] = None if out["ok"] is None else bool(out["ok"])
    return out
