"""A node's state folder read from outside, writing nothing: what the simulator's tour and fleet
checks, and tools, look at while the node runs (or after it died).

The node owns its tables; this is the one place that reads them for others, so a reader never
carries the node's SQL (nor breaks when a column moves).  Every read opens a read-only connection
(edge.evidence.readonly) and closes it again; a database not created yet reads as empty.

The node's present state (source, link, outbox, fps, frames, evidence degraded) is read from its
health file (edge.health, `health.json`, replaced whole at each report) by `health()`; a missing,
torn or foreign file reads as `Health(None, why)`, never an exception.  Nothing here parses the log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import apsw

from .evidence.readonly import open_for_reading
from .health import HEALTH_FILE


@dataclass(frozen=True)
class Health:
    """The node's last health report (`body`, the fields of edge.health), or None and `problem` saying why."""

    body: dict | None
    problem: str | None = None

    def __getitem__(self, key: str):
        return self.body[key] if self.body is not None else None

    def get(self, key: str, default=None):
        return self.body.get(key, default) if self.body is not None else default


class NodeState:
    def __init__(self, state_dir: Path):
        self.state_dir = Path(state_dir)

    def _rows(self, db: str, sql: str, args: tuple = ()) -> list[tuple]:
        path = self.state_dir / db
        if not path.exists():
            return []
        try:
            conn = open_for_reading(path)
        except (FileNotFoundError, apsw.Error):
            return []
        try:
            return list(conn.execute(sql, args))
        except apsw.SQLError:  # the table is not made yet (the node is starting)
            return []
        finally:
            conn.close()

    # --- health file -----------------------------------------------------------------------------
    def health(self) -> Health:
        """The node's last report (edge.health); Health(None, why) when there is none to read."""
        path = self.state_dir / HEALTH_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return Health(None, f"{path}: no health file (the node has not reported yet)")
        except OSError as exc:
            return Health(None, f"{path}: {exc.strerror or exc}")
        try:
            body = json.loads(text)
        except ValueError as exc:
            return Health(None, f"{path}: not a whole JSON report ({exc.msg} at line {exc.lineno}); "
                                "written by something other than the node, or torn")
        if not isinstance(body, dict) or "seq" not in body or "source" not in body:
            return Health(None, f"{path}: not a node health report (no seq/source fields)")
        return Health(body)

    # --- lifecycle log --------------------------------------------------------------------------
    def lifecycle(self) -> list[dict]:
        """Every lifecycle message the node logged, in order (a line being written is skipped)."""
        path = self.state_dir / "lifecycle.jsonl"
        if not path.exists():
            return []
        out = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict):
                out.append(message)
        return out

    # --- outbox ---------------------------------------------------------------------------------
    def outbox_depth(self) -> int:
        rows = self._rows("outbox.db", "SELECT count(*) FROM outbox")
        return rows[0][0] if rows else 0

    def outbox_alert_ids(self) -> set[str]:
        """`id:stage` of the lifecycle messages still in the outbox (not yet receipted by the hub)."""
        return {r[0] for r in self._rows("outbox.db", "SELECT msg_id FROM outbox WHERE kind = 'alert'")}

    def receipt_stats(self) -> dict:
        """Lifecycle messages the hub receipted and the longest any waited, from commit to receipt."""
        rows = self._rows("outbox.db", "SELECT receipts, max_s FROM receipt_stats")
        return {"receipts": rows[0][0], "max_receipt_s": round(rows[0][1], 1)} if rows else \
            {"receipts": 0, "max_receipt_s": None}

    def dead_letters(self) -> int:
        rows = self._rows("outbox.db", "SELECT count(*) FROM dead")
        return rows[0][0] if rows else 0

    # --- uploads and evidence -------------------------------------------------------------------
    def uploads_pending(self) -> int:
        """Files queued for upload that the receiver has not stored yet."""
        rows = self._rows("upload.db", "SELECT count(*) FROM files WHERE state != 'stored'")
        return rows[0][0] if rows else 0

    def bundles(self) -> list:
        """The evidence index (edge.evidence.store.BundleRow), deleted bundles included, in chain order."""
        if not (self.state_dir / "evidence.db").exists():
            return []
        from .evidence import EvidenceStore

        try:
            store = EvidenceStore.inspect(self.state_dir)
        except (FileNotFoundError, apsw.Error):
            return []
        try:
            return store.rows(include_deleted=True)
        except apsw.SQLError:
            return []
        finally:
            store.close()
