"""The node's health file, `{state_dir}/health.json`: what the once-a-second report line says, as JSON.

Tools beside the node (the simulator's tour and fleet, an installer's script) read the node's
present state from here through edge.inspect.NodeState.health(), never by parsing its log: the log
is for people and may change its wording.  The file is a view, not a record: it is replaced whole
(written to a temporary name and renamed, so a reader never sees half of it) at every report
interval and when evidence storage degrades or recovers, without an fsync, and a power cut may
leave an older copy.  Its last write, when the run ends, carries `stopped` and the frame count.

Fields: `wall` (time.time() of the write), `pid`, `seq` (counts the writes of this process),
`fps`, `frames` (captured), `dropped`, `reconnects`, `source` (edge.capture.SourceState value),
`link_up` and `outbox` / `awaiting_receipt` (null without a link), `healthy` and `problems` (the
link's health), `evidence_degraded`, and at the end `stopped: true`, `frames_at_stop`,
`fps_average`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

from .util import WriteTrouble, write_atomic

log = logging.getLogger("edge.health")

HEALTH_FILE = "health.json"


class HealthFile:
    """Writes the node's health file; a failed write (a full disk) is logged once and never stops the node."""

    def __init__(self, state_dir: Path):
        self.path = Path(state_dir) / HEALTH_FILE
        self.seq = 0
        self.trouble = WriteTrouble(log, f"health file {self.path}", "the report line goes on")

    def write(self, body: dict) -> None:
        self.seq += 1
        body = {"wall": round(time.time(), 3), "pid": os.getpid(), "seq": self.seq, **body}
        try:
            write_atomic(self.path, json.dumps(body, sort_keys=True) + "\n", 0o644, sync=False)
        except OSError as exc:
            self.trouble.failed(exc)
            return
        self.trouble.ok()
