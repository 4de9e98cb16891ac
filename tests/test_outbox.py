"""The outbox on its own: order, durability across reopen, bounds that never drop alerts."""

from __future__ import annotations

import apsw

from edge.link.outbox import Outbox


def test_rows_come_back_in_order_and_survive_reopening(tmp_path):
    box = Outbox(tmp_path / "o.db")
    seqs = [box.put("t/alert", f"m{i}".encode(), msg_id=f"m{i}") for i in range(10)]
    box.ack(seqs[:3])
    box.close()
    box = Outbox(tmp_path / "o.db")  # after a restart
    assert [r.payload for r in box.pending()] == [f"m{i}".encode() for i in range(3, 10)]
    assert box.depth() == 7 and box.bytes == sum(len(f"m{i}") for i in range(3, 10))
    assert [r.seq for r in box.pending(after=seqs[5], limit=2)] == seqs[6:8]
    db = apsw.Connection(str(tmp_path / "o.db"))
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_bounds_drop_stats_first_and_never_alerts(tmp_path):
    box = Outbox(tmp_path / "o.db", max_messages=5)
    box.put("t/stats", b"s0", kind="stats")
    for i in range(3):
        box.put("t/alert", f"a{i}".encode(), kind="alert")
    box.put("t/stats", b"s1", kind="stats")
    box.put("t/stats", b"s2", kind="stats")  # 6 rows: the oldest stats goes
    assert [r.payload for r in box.pending()] == [b"a0", b"a1", b"a2", b"s1", b"s2"] and box.dropped == 1
    for i in range(3, 8):
        box.put("t/alert", f"a{i}".encode(), kind="alert")  # only alerts left to drop: none is dropped
    kinds = [r.kind for r in box.pending()]
    assert kinds.count("alert") == 8 and kinds.count("stats") == 0
    assert box.over_limit and box.depth() == 8


def test_a_refused_message_is_set_aside(tmp_path):
    box = Outbox(tmp_path / "o.db")
    seq = box.put("t/alert", b"x")
    box.bury(seq, "Not authorized")
    assert box.depth() == 0 and box.dead_count() == 1 and box.pending() == []
